package qm

import (
	"maps"
	"slices"
	"time"

	"callvault/internal/access"
	"callvault/internal/vault"
)

// Report intervals.
const (
	IntervalDay   = vault.IntervalDay
	IntervalWeek  = vault.IntervalWeek
	IntervalMonth = vault.IntervalMonth
)

// Report is the agents' report: average scores per agent and per team
// (every prefix of the agents' hierarchies), over the whole range and per
// interval, and the evaluations by state.
type Report struct {
	From     time.Time        `json:"from"`
	To       time.Time        `json:"to"`
	Interval string           `json:"interval"`
	Agents   []ReportRow      `json:"agents"`
	Teams    []ReportRow      `json:"teams"`
	States   map[string]int64 `json:"states"`
}

// ReportRow is one agent's or team's averages.
type ReportRow struct {
	Agent    string        `json:"agent,omitempty"`
	Team     string        `json:"team"`
	Count    int64         `json:"count"`
	Total    *float64      `json:"total"`    // the average total score
	Critical *float64      `json:"critical"` // the average critical score
	Fatal    int64         `json:"fatal"`
	Points   []ReportPoint `json:"points"`
}

// ReportPoint is one interval of a row.
type ReportPoint struct {
	Start    time.Time `json:"start"`
	Count    int64     `json:"count"`
	Total    *float64  `json:"total"`
	Critical *float64  `json:"critical"`
}

// IntervalStart is the start of the interval that holds t (the store
// buckets by vault.IntervalStart; this is it, for the report's users).
func IntervalStart(interval string, t time.Time) time.Time { return vault.IntervalStart(interval, t) }

type sums struct {
	count, totals, criticals, fatal int64
	totalSum, criticalSum           float64
}

func (s *sums) add(b vault.ScoreBucket) {
	s.count += b.Count
	s.totals += b.Totals
	s.totalSum += b.TotalSum
	s.criticals += b.Criticals
	s.criticalSum += b.CriticalSum
	s.fatal += b.Fatal
}

func avg(sum float64, n int64) *float64 {
	if n == 0 {
		return nil
	}
	v := sum / float64(n)
	return &v
}

type row struct {
	agent, team string
	all         sums
	by          map[time.Time]*sums
}

func (r *row) add(interval string, b vault.ScoreBucket) {
	r.all.add(b)
	start := vault.IntervalStart(interval, b.Start)
	s := r.by[start]
	if s == nil {
		s = &sums{}
		r.by[start] = s
	}
	s.add(b)
}

func (r *row) out() ReportRow {
	o := ReportRow{Agent: r.agent, Team: r.team, Count: r.all.count, Fatal: r.all.fatal,
		Total: avg(r.all.totalSum, r.all.totals), Critical: avg(r.all.criticalSum, r.all.criticals), Points: []ReportPoint{}}
	for _, start := range slices.SortedFunc(maps.Keys(r.by), func(a, b time.Time) int { return a.Compare(b) }) {
		s := r.by[start]
		o.Points = append(o.Points, ReportPoint{Start: start, Count: s.count, Total: avg(s.totalSum, s.totals), Critical: avg(s.criticalSum, s.criticals)})
	}
	return o
}

// BuildReport rolls the store's per-agent, per-interval sums up into the
// report: per agent, and per team for every prefix of each agent's
// hierarchy (an agent of /Anthony/John counts in /Anthony/John and in
// /Anthony). Agents without a hierarchy count in no team.
func BuildReport(from, to time.Time, interval string, buckets []vault.ScoreBucket, states map[string]int64) Report {
	agents := map[string]*row{}
	teams := map[string]*row{}
	get := func(m map[string]*row, key, agent, team string) *row {
		r := m[key]
		if r == nil {
			r = &row{agent: agent, team: team, by: map[time.Time]*sums{}}
			m[key] = r
		}
		return r
	}
	for _, b := range buckets {
		get(agents, b.Agent, b.Agent, b.Team).add(interval, b)
		for _, t := range access.Prefixes(b.Team) {
			get(teams, t, "", t).add(interval, b)
		}
	}
	rep := Report{From: from, To: to, Interval: interval, Agents: []ReportRow{}, Teams: []ReportRow{}, States: map[string]int64{}}
	for _, k := range slices.Sorted(maps.Keys(agents)) {
		rep.Agents = append(rep.Agents, agents[k].out())
	}
	for _, k := range slices.Sorted(maps.Keys(teams)) {
		rep.Teams = append(rep.Teams, teams[k].out())
	}
	for _, s := range vault.EvalStates {
		rep.States[s] = states[s]
	}
	return rep
}
