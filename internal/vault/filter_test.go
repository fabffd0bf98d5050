package vault

import (
	"testing"
	"time"
)

func TestPhoneMatches(t *testing.T) {
	for _, c := range []struct {
		pattern, number string
		want            bool
	}{
		{"", "123", true},
		{"123", "123", true},
		{"123", "1234", false},
		{"12*", "1234", true},
		{"*34", "1234", true},
		{"*", "", true},
		{"1*4", "14", true},
		{"1*1", "1", false},
		{"*2*3*", "123", true},
		{"*3*2*", "123", false},
		{"+1*", "+15551234", true},
	} {
		if got := PhoneMatches(c.pattern, c.number); got != c.want {
			t.Errorf("PhoneMatches(%q, %q) = %v, want %v", c.pattern, c.number, got, c.want)
		}
	}
}

func TestFilterMatches(t *testing.T) {
	start := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	r := &Recording{StartTime: start, StopTime: start.Add(time.Minute), CallerPhoneNumber: "5551234",
		Agents: []string{"john"}, Partitions: []string{"sales"}, MediaTypes: []string{"audio/mp3"}}
	for _, c := range []struct {
		name string
		f    SearchFilter
		want bool
	}{
		{"empty", SearchFilter{}, true},
		{"start in", SearchFilter{StartFrom: start, StartTo: start.Add(time.Second)}, true},
		{"start to is exclusive", SearchFilter{StartTo: start}, false},
		{"caller", SearchFilter{Caller: "555*"}, true},
		{"caller other", SearchFilter{Caller: "666*"}, false},
		{"agent", SearchFilter{UserName: "john"}, true},
		{"agent other", SearchFilter{UserName: "paul"}, false},
		{"partition", SearchFilter{Partition: "sales", MediaType: "audio/mp3"}, true},
		{"media type other", SearchFilter{MediaType: "video/mp4"}, false},
	} {
		if got := c.f.Matches(r); got != c.want {
			t.Errorf("%s: Matches = %v, want %v", c.name, got, c.want)
		}
	}
	if (&SearchFilter{StopFrom: start}).Matches(&Recording{}) {
		t.Error("a stop bound matched a recording without a stop time")
	}
}
