package samples

import (
	"encoding/json"
	"testing"
)

func TestRecordings(t *testing.T) {
	recs := Recordings()
	if len(recs) != 2 {
		t.Fatalf("%d samples, want the guide's 2", len(recs))
	}
	for _, r := range recs {
		if r.ID == "" || !json.Valid(r.Metadata) || len(r.Media) != 2 {
			t.Errorf("sample %q: id, metadata or media missing (%d media)", r.ID, len(r.Media))
		}
		for _, m := range r.Media {
			if m.MediaID == "" || len(m.Data) == 0 {
				t.Errorf("sample %s: media without id or data", r.ID)
			}
		}
	}
}
