package access

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"callvault/internal/vault"
)

func TestNormalizePath(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"/", "/"},
		{"//", "/"},
		{" / ", "/"},
		{"/Anthony", "/Anthony"},
		{"Anthony", "/Anthony"},
		{"/Anthony/", "/Anthony"},
		{"/Anthony/John/", "/Anthony/John"},
		{"//Anthony//John//", "/Anthony/John"},
		{" /Anthony / John ", "/Anthony/John"},
		{"/sales", "/sales"},
		{"/Customer Care/EMEA", "/Customer Care/EMEA"},
		{"/anthony", "/anthony"}, // case is kept: segments are user names
		{"/...x/a..b/.hidden", "/...x/a..b/.hidden"},
		{"/Zoë/Ñandú", "/Zoë/Ñandú"},
	} {
		got, err := NormalizePath(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("NormalizePath(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{"", "   ", "/..", "/Anthony/../root", "../x", "/./x", ".", "/a\x00b", "/a\nb", "/a\tb", "/a\u0085b", "/a\x7f", "\xff"} {
		if got, err := NormalizePath(in); !errors.Is(err, ErrInvalidPath) {
			t.Errorf("NormalizePath(%q) = %q, %v; want ErrInvalidPath", in, got, err)
		}
	}
}

func TestPrefixes(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"/Anthony/John", []string{"/Anthony", "/Anthony/John"}},
		{"/Anthony/John/", []string{"/Anthony", "/Anthony/John"}},
		{"Anthony", []string{"/Anthony"}},
		{"/a/b/c/d", []string{"/a", "/a/b", "/a/b/c", "/a/b/c/d"}},
		{"/", nil},
		{"", nil},
		{"/Anthony/../x", nil},
	} {
		if got := Prefixes(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("Prefixes(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestSplitPartitions(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"/sales,/support", []string{"/sales", "/support"}},
		{" /sales , /support ", []string{"/sales", "/support"}},
		{"/support,/sales", []string{"/support", "/sales"}}, // order kept
		{"sales,support/", []string{"/sales", "/support"}},
		{"/sales,,/sales/,", []string{"/sales"}},
		{"/sales/emea", []string{"/sales/emea"}},
		{"", nil},
		{" , ,", nil},
		{"/sales,/../x,/sup\x00port,/support", []string{"/sales", "/support"}},
		{"/", []string{"/"}},
	} {
		if got := SplitPartitions(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("SplitPartitions(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestRecordingGroups(t *testing.T) {
	for _, tc := range []struct {
		name                                  string
		hierarchies, accessGroups, partitions []string
		want                                  []string
	}{
		{"one agent", []string{"/Anthony/John"}, nil, nil, []string{"/Anthony", "/Anthony/John"}},
		{"two agents share a prefix", []string{"/Anthony/John", "/Anthony/Paul/"}, nil, nil,
			[]string{"/Anthony", "/Anthony/John", "/Anthony/Paul"}},
		{"partitions, not prefixed", []string{"/Anthony/Paul"}, nil, []string{"/sales", "support", "/sales/emea"},
			[]string{"/Anthony", "/Anthony/Paul", "/sales", "/sales/emea", "/support"}},
		{"record accessgroups are prefixed", nil, []string{"/Ops/Night"}, nil, []string{"/Ops", "/Ops/Night"}},
		{"IVR only", nil, nil, nil, nil},
		{"IVR with a partition", nil, nil, []string{"/sales"}, []string{"/sales"}},
		{"root and invalid left out", []string{"/", "/a/../b", ""}, []string{"/"}, []string{"/", "/x\x00"}, nil},
		{"duplicates", []string{"/A/B", "/A/B/"}, []string{"/A"}, []string{"/A", "A/B"}, []string{"/A", "/A/B"}},
	} {
		got := RecordingGroups(tc.hierarchies, tc.accessGroups, tc.partitions)
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: RecordingGroups = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestForUser(t *testing.T) {
	a := ForUser(vault.User{Name: "john", AccessGroups: []string{"/Anthony/John/", "sales", "/sales", "/../bad"}})
	want := vault.Access{Groups: []string{"/Anthony/John", "/sales"}, UserName: "john"}
	if a.All != want.All || a.UserName != want.UserName || !slices.Equal(a.Groups, want.Groups) {
		t.Errorf("ForUser = %+v, want %+v", a, want)
	}
	for _, groups := range [][]string{{"/"}, {"/sales", "//"}, {" / "}} {
		if a := ForUser(vault.User{Name: "boss", AccessGroups: groups}); !a.All {
			t.Errorf("ForUser with groups %q: All = false, want true", groups)
		}
	}
	if a := ForUser(vault.User{Name: "agent1", AgentHierarchy: "/Anthony/John"}); a.All || len(a.Groups) != 0 || a.UserName != "agent1" {
		t.Errorf("ForUser of a plain agent = %+v, want only the user name", a)
	}
}

// The guide's example: Anthony leads John (Agent1, Agent2) and Paul
// (Agent3, Agent4); partitions /sales and /support.
func TestGuideExample(t *testing.T) {
	hierarchy := map[string]string{
		"Agent1": "/Anthony/John", "Agent2": "/Anthony/John",
		"Agent3": "/Anthony/Paul", "Agent4": "/Anthony/Paul",
		"Bob": "/Anthony2/Bob", "Ann": "/Ant/Ann", "Solo": "/",
	}
	type recording struct {
		agents     []string
		accessGrps []string
		partitions string
	}
	recordings := map[string]recording{
		"agent1":         {agents: []string{"Agent1"}},
		"agent2":         {agents: []string{"Agent2"}},
		"agent3":         {agents: []string{"Agent3"}},
		"agent4-sales":   {agents: []string{"Agent4"}, partitions: "/sales,/support"},
		"transfer-1to3":  {agents: []string{"Agent1", "Agent3"}},
		"ivr":            {},
		"ivr-sales":      {partitions: "/sales"},
		"ivr-emea":       {partitions: "/sales/emea"},
		"bob":            {agents: []string{"Bob"}},
		"ann":            {agents: []string{"Ann"}},
		"solo":           {agents: []string{"Solo"}},
		"ivr-accessgrps": {accessGrps: []string{"/Anthony/Paul"}},
	}
	users := map[string]vault.User{
		"admin":     {Name: "admin", AccessGroups: []string{"/"}},
		"anthony":   {Name: "Anthony", AgentHierarchy: "/Anthony", AccessGroups: []string{"/Anthony"}},
		"john":      {Name: "John", AgentHierarchy: "/Anthony/John", AccessGroups: []string{"/Anthony/John"}},
		"john/":     {Name: "John", AccessGroups: []string{"/Anthony/John/"}},
		"paul":      {Name: "Paul", AgentHierarchy: "/Anthony/Paul", AccessGroups: []string{"Anthony/Paul"}},
		"johnflat":  {Name: "x", AccessGroups: []string{"/John"}}, // not a prefix of /Anthony/John
		"sales":     {Name: "user1", AccessGroups: []string{"/sales"}},
		"support":   {Name: "user2", AccessGroups: []string{"support/"}},
		"Agent1":    {Name: "Agent1", AgentHierarchy: "/Anthony/John"},
		"Agent4":    {Name: "Agent4", AgentHierarchy: "/Anthony/Paul"},
		"anthony2":  {Name: "a2", AccessGroups: []string{"/Anthony2"}},
		"ant":       {Name: "ant", AccessGroups: []string{"/Ant"}},
		"Solo":      {Name: "Solo", AgentHierarchy: "/"},
		"nobody":    {Name: "nobody"},
		"emptyname": {Name: ""},
	}
	all := []string{"agent1", "agent2", "agent3", "agent4-sales", "transfer-1to3", "ivr", "ivr-sales", "ivr-emea", "bob", "ann", "solo", "ivr-accessgrps"}
	want := map[string][]string{
		"admin":     all,
		"anthony":   {"agent1", "agent2", "agent3", "agent4-sales", "transfer-1to3", "ivr-accessgrps"},
		"john":      {"agent1", "agent2", "transfer-1to3"},
		"john/":     {"agent1", "agent2", "transfer-1to3"},
		"paul":      {"agent3", "agent4-sales", "transfer-1to3", "ivr-accessgrps"},
		"johnflat":  nil,
		"sales":     {"agent4-sales", "ivr-sales"},
		"support":   {"agent4-sales"},
		"Agent1":    {"agent1", "transfer-1to3"},
		"Agent4":    {"agent4-sales"},
		"anthony2":  {"bob"},
		"ant":       {"ann"},
		"Solo":      {"solo"},
		"nobody":    nil,
		"emptyname": nil,
	}
	for userKey, u := range users {
		a := ForUser(u)
		var got []string
		for _, id := range all {
			rec := recordings[id]
			var hierarchies []string
			for _, agent := range rec.agents {
				hierarchies = append(hierarchies, hierarchy[agent])
			}
			groups := RecordingGroups(hierarchies, rec.accessGrps, SplitPartitions(rec.partitions))
			if CanSee(a, groups, rec.agents) {
				got = append(got, id)
			}
		}
		if !slices.Equal(got, want[userKey]) {
			t.Errorf("%s sees %q, want %q", userKey, got, want[userKey])
		}
	}
}

func TestCanSeeEquality(t *testing.T) {
	// CanSee matches exactly what the stores match: no normalising, no
	// prefixes at question time.
	groups := []string{"/Anthony", "/Anthony/John"}
	for _, tc := range []struct {
		a    vault.Access
		want bool
	}{
		{vault.Access{All: true}, true},
		{vault.Access{Groups: []string{"/Anthony"}}, true},
		{vault.Access{Groups: []string{"/Anthony/"}}, false},
		{vault.Access{Groups: []string{"/Anthony/John/Agent1"}}, false},
		{vault.Access{Groups: []string{"/"}}, false}, // the root counts through All only
		{vault.Access{UserName: "Agent1"}, true},
		{vault.Access{UserName: "agent1"}, false},
		{vault.Access{}, false},
	} {
		if got := CanSee(tc.a, groups, []string{"Agent1"}); got != tc.want {
			t.Errorf("CanSee(%+v) = %t, want %t", tc.a, got, tc.want)
		}
	}
	if CanSee(vault.Access{}, nil, []string{""}) {
		t.Error("an empty user name matched an empty agent")
	}
}

func FuzzNormalizePath(f *testing.F) {
	for _, seed := range []string{"/", "", "/Anthony/John/", "Anthony", "//a//b//", " / a / b ", "/..", "/a/./b", "\x00", "/\u00a0x\u00a0/", "\xff/a"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		norm, err := NormalizePath(in)
		if err != nil {
			return
		}
		again, err := NormalizePath(norm)
		if err != nil || again != norm {
			t.Fatalf("NormalizePath(%q) = %q, but NormalizePath(%q) = %q, %v", in, norm, norm, again, err)
		}
		if !strings.HasPrefix(norm, "/") || strings.Contains(norm, "//") || (norm != "/" && strings.HasSuffix(norm, "/")) {
			t.Fatalf("NormalizePath(%q) = %q: not canonical", in, norm)
		}
		prefixes := Prefixes(norm)
		if norm != "/" && (len(prefixes) == 0 || prefixes[len(prefixes)-1] != norm) {
			t.Fatalf("Prefixes(%q) = %q: does not end with the path", norm, prefixes)
		}
		for _, p := range prefixes {
			if norm != p && !strings.HasPrefix(norm, p+"/") {
				t.Fatalf("Prefixes(%q) holds %q, not a segment prefix", norm, p)
			}
		}
	})
}

func FuzzSplitPartitions(f *testing.F) {
	for _, seed := range []string{"/sales,/support", " /sales , support/ ,,", "", ",", "/a/../b,/c", "/,//,/x"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		parts := SplitPartitions(in)
		for _, p := range parts {
			if norm, err := NormalizePath(p); err != nil || norm != p {
				t.Fatalf("SplitPartitions(%q) holds %q, not normalised (%q, %v)", in, p, norm, err)
			}
		}
		if again := SplitPartitions(strings.Join(parts, ",")); !slices.Equal(again, parts) {
			t.Fatalf("SplitPartitions(%q) = %q, but split again %q", in, parts, again)
		}
		groups := RecordingGroups(nil, nil, parts)
		if !slices.IsSorted(groups) || len(slices.Compact(slices.Clone(groups))) != len(groups) {
			t.Fatalf("RecordingGroups(%q) = %q: not sorted and unique", parts, groups)
		}
	})
}
