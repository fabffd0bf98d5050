package config

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func FuzzParse(f *testing.F) {
	for _, seed := range []string{minimal, newerEdition, olderEdition, "", "\\", "a=\\u12", "k\\\n=v", "#\\\n", "=\\", "\xff=\xfe",
		minimal + "mediaTypePattern=(((\n", minimal + "minDate=2018-01-02\nmaxDate=2018-01-04\n", "a:b\r\nc\\\r\n d"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, text string) {
		c, err := Parse(strings.NewReader(text), "config.properties")
		if err != nil {
			if strings.ContainsAny(err.Error(), "\n\r") {
				t.Fatalf("error is not one line: %q", err)
			}
			return
		}
		if c.GWSURIPrefix == "" || c.TargetDir == "" || c.MediaTypePattern == nil {
			t.Fatalf("accepted without the required values: %+v", c)
		}
		if c.RcbsInstanceID < 0 || c.RcbsInstanceID >= c.TotalRcbsInstances {
			t.Fatalf("instance %d of %d", c.RcbsInstanceID, c.TotalRcbsInstances)
		}
		if _, err := FolderPath(c.RecordingFolderFormat, time.Now()); err != nil {
			t.Fatalf("accepted folder format %q: %v", c.RecordingFolderFormat, err)
		}
		now := time.Date(2020, 6, 1, 12, 0, 0, 0, time.UTC)
		last := now.Add(-100 * time.Hour)
		from, to := c.Period(now, &last)
		if from.After(to) || to.After(now) || from.Before(epoch) {
			t.Fatalf("period [%v, %v)", from, to)
		}
		_ = c.Summary()
	})
}

func FuzzParseAge(f *testing.F) {
	for _, seed := range []string{"2", "PT30M", "P30D", "P7DT1H", "P1Y2DT4H30M", "P6MT12H", "P", "PT", "P1H", "1.5", "-1", "P-1D",
		"PT1,5S", "P2W", "P9999Y11M", "PT999999999H"} {
		f.Add(seed)
	}
	now := time.Date(2018, 3, 31, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAge(s)
		if err != nil {
			return
		}
		if a.Years < 0 || a.Months < 0 || a.Days < 0 || a.Clock < 0 {
			t.Fatalf("negative age %+v from %q", a, s)
		}
		back, err := ParseAge(a.String())
		if err != nil || back != a {
			t.Fatalf("%q → %+v → %q → %+v, %v", s, a, a.String(), back, err)
		}
		if a.Before(now).After(now) {
			t.Fatalf("%q goes forward", s)
		}
		if o, err := parseOverlap(s); err == nil && o.Clock < 0 {
			t.Fatalf("overlap %+v", o)
		}
	})
}

func FuzzParseDate(f *testing.F) {
	for _, seed := range []string{"2015-07-31", "1438300800000", "2015-13-01", "07/31/2015", "9999999999999", "0000-01-01", "2015-02-29"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDate(s)
		if err != nil {
			return
		}
		if d.Location() != time.UTC {
			t.Fatalf("%q: not UTC", s)
		}
		if back, err := ParseDate(formatDateForRoundTrip(d)); err != nil || !back.Equal(d) {
			t.Fatalf("%q → %v does not read back: %v %v", s, d, back, err)
		}
	})
}

func formatDateForRoundTrip(d time.Time) string {
	if d.Equal(d.Truncate(24*time.Hour)) && d.Year() >= 0 && d.Year() <= 9999 {
		return d.Format("2006-01-02")
	}
	return fmt.Sprintf("%013d", d.UnixMilli())
}

func FuzzFolderPath(f *testing.F) {
	for _, seed := range []string{"yyyy/MM/dd/HH", "yy/M/d/H", "'lit''eral'/yyyy", "../x", "yyyy//MM", "'", "MMM", "\x00"} {
		f.Add(seed, int64(1518462074))
	}
	f.Fuzz(func(t *testing.T, format string, unix int64) {
		p, err := FolderPath(format, time.Unix(unix, 0))
		if err != nil {
			return
		}
		if p == "" || strings.HasPrefix(p, "/") || strings.Contains(p, `\`) {
			t.Fatalf("%q gave %q", format, p)
		}
		for _, segment := range strings.Split(p, "/") {
			if segment == "" || segment == "." || segment == ".." {
				t.Fatalf("%q gave %q", format, p)
			}
		}
	})
}
