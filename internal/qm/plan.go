package qm

import (
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"callvault/internal/vault"
)

// Plan limits.
const (
	MaxPerAgent = 100
	MaxPlanList = 200 // evaluators, agents
	// MaxCatchUp is how many past periods one run creates evaluations
	// for (a plan whose first period is long ago does not flood the
	// evaluators at once; the next run goes on).
	MaxCatchUp = 12
)

// PeriodStart is the start (UTC) of the period of the kind that holds t:
// Monday 00:00 for weeks, the first of the month for months.
func PeriodStart(every string, t time.Time) time.Time {
	if every == vault.EveryMonth {
		return vault.IntervalStart(vault.IntervalMonth, t)
	}
	return vault.IntervalStart(vault.IntervalWeek, t)
}

// PeriodEnd is the end of the period that starts at start.
func PeriodEnd(every string, start time.Time) time.Time {
	if every == vault.EveryMonth {
		return start.AddDate(0, 1, 0)
	}
	return start.AddDate(0, 0, 7)
}

// DuePeriods lists the starts of the plan's periods that are over at now
// and have no evaluations yet, oldest first, at most MaxCatchUp.
func DuePeriods(p *vault.Plan, now time.Time) []time.Time {
	start := PeriodStart(p.Every, p.FirstPeriod)
	if !p.DoneThrough.IsZero() && p.DoneThrough.After(start) {
		start = PeriodStart(p.Every, p.DoneThrough)
	}
	var due []time.Time
	for end := PeriodEnd(p.Every, start); !end.After(now) && len(due) < MaxCatchUp; end = PeriodEnd(p.Every, start) {
		due = append(due, start)
		start = end
	}
	return due
}

// CheckPlan validates and normalises a plan given by a client (the form
// and the users are checked by the caller, against the store).
func CheckPlan(p *vault.Plan) error {
	p.Name = strings.TrimSpace(p.Name)
	if err := checkText("the plan's name", p.Name, MaxNameLen, true); err != nil {
		return err
	}
	if err := CheckID("form", p.FormID); err != nil {
		return err
	}
	if p.FormVersion < 0 {
		return invalid("formVersion %d: use a published version, or 0 for the latest", p.FormVersion)
	}
	if p.Every != vault.EveryWeek && p.Every != vault.EveryMonth {
		return invalid("every %q: use week or month", printable(p.Every))
	}
	if p.PerAgent < 1 || p.PerAgent > MaxPerAgent {
		return invalid("perAgent %d: use 1 to %d", p.PerAgent, MaxPerAgent)
	}
	for what, list := range map[string]*[]string{"evaluators": &p.Evaluators, "agents": &p.Agents} {
		if len(*list) == 0 {
			return invalid("the plan has no %s", what)
		}
		if len(*list) > MaxPlanList {
			return invalid("the plan has over %d %s", MaxPlanList, what)
		}
		for _, v := range *list {
			if err := checkText(what, v, MaxNameLen, true); err != nil {
				return err
			}
		}
		slices.Sort(*list)
		*list = slices.Compact(*list)
	}
	if p.Filter.MinDurationSec < 0 || p.Filter.MinDurationSec > 24*3600 {
		return invalid("filter.minDurationSec %d: use 0 to 86400", p.Filter.MinDurationSec)
	}
	if !p.Filter.StartFrom.IsZero() && !p.Filter.StartTo.IsZero() && !p.Filter.StartTo.After(p.Filter.StartFrom) {
		return invalid("filter.startTo must be after filter.startFrom")
	}
	if err := checkText("filter.partition", p.Filter.Partition, MaxNameLen, false); err != nil {
		return err
	}
	if err := checkText("filter.category", p.Filter.Category, MaxNameLen, false); err != nil {
		return err
	}
	return nil
}

// Shuffle orders candidates at random, the same way for the same plan and
// period (a retried run picks the same recordings).
func Shuffle(candidates []string, planID string, period time.Time, agent string) {
	h := fnv.New64a()
	h.Write([]byte(planID))
	h.Write([]byte{0})
	h.Write([]byte(period.UTC().Format(time.RFC3339)))
	h.Write([]byte{0})
	h.Write([]byte(agent))
	r := rand.New(rand.NewPCG(h.Sum64(), 0x9e3779b97f4a7c15))
	r.Shuffle(len(candidates), func(i, j int) { candidates[i], candidates[j] = candidates[j], candidates[i] })
}
