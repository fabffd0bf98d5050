package testenv

import (
	"fmt"
	"strings"
)

// BigQMForm is an evaluation form of 100 yes/no questions in 10 groups
// of weights 1–3 (id "big"), with a condition on the question before it
// every fifth question, N/A allowed, every other question required and
// one critical question per group: what the benchmarks of an evaluation
// with a large form use.
func BigQMForm() string {
	var groups []string
	for g := range 10 {
		var questions []string
		for k := range 10 {
			cond := ""
			if k%5 == 4 {
				cond = fmt.Sprintf(`,"visibleWhen":{"question":"g%dq%d","answer":"yes"}`, g, k-1)
			}
			questions = append(questions, fmt.Sprintf(`{"id":"g%dq%d","text":"Question %d of group %d: did the agent do what the script asks at this point of the call?","help":"Listen for it.","type":"yesno","naAllowed":true,"required":%v,"critical":%v%s,"answers":[{"id":"yes","text":"Yes","points":2},{"id":"no","text":"No","points":0}]}`,
				g, k, k+1, g+1, k%2 == 0, k == 0, cond))
		}
		groups = append(groups, fmt.Sprintf(`{"name":"Group %d","weight":%d,"questions":[%s]}`, g+1, 1+g%3, strings.Join(questions, ",")))
	}
	return `{"id":"big","name":"100 questions","questionGroups":[` + strings.Join(groups, ",") + `]}`
}
