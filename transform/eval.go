package transform

import (
	"sort"

	"github.com/otds-highspot/otds-highspot/internal/contract"
)

// Eval is the pairwise quality of a resolution against labels: a pair of
// accounts is predicted when both link to one person, true when both carry
// the same label.
type Eval struct {
	Precision      float64
	Recall         float64
	PredictedPairs int64
	TruePairs      int64
	CorrectPairs   int64
	// FalseMerges lists (up to 20) persons whose accounts carry several labels.
	FalseMerges [][]string
	// Missed lists (up to 20) labels whose accounts were split over persons.
	Missed [][]string
}

// Evaluate scores person links against labels (account_key -> true person).
// Accounts without a label are ignored.
func Evaluate(links []contract.PersonLink, labels map[string]string) Eval {
	type cell struct{ pid, label string }
	cells := map[cell]int64{}
	pred := map[string]int64{}
	truth := map[string]int64{}
	byPID := map[string][]string{}
	byLabel := map[string]map[string]bool{}
	for _, l := range links {
		lab, ok := labels[l.AccountKey]
		if !ok {
			continue
		}
		cells[cell{l.PersonID, lab}]++
		pred[l.PersonID]++
		truth[lab]++
		byPID[l.PersonID] = append(byPID[l.PersonID], l.AccountKey)
		if byLabel[lab] == nil {
			byLabel[lab] = map[string]bool{}
		}
		byLabel[lab][l.PersonID] = true
	}
	pairs := func(n int64) int64 { return n * (n - 1) / 2 }
	var e Eval
	for _, n := range cells {
		e.CorrectPairs += pairs(n)
	}
	for _, n := range pred {
		e.PredictedPairs += pairs(n)
	}
	for _, n := range truth {
		e.TruePairs += pairs(n)
	}
	e.Precision, e.Recall = 1, 1
	if e.PredictedPairs > 0 {
		e.Precision = float64(e.CorrectPairs) / float64(e.PredictedPairs)
	}
	if e.TruePairs > 0 {
		e.Recall = float64(e.CorrectPairs) / float64(e.TruePairs)
	}
	pids := make([]string, 0, len(byPID))
	for p := range byPID {
		pids = append(pids, p)
	}
	sort.Strings(pids)
	for _, p := range pids {
		seen := map[string]bool{}
		for _, k := range byPID[p] {
			seen[labels[k]] = true
		}
		if len(seen) > 1 && len(e.FalseMerges) < 20 {
			ks := append([]string(nil), byPID[p]...)
			sort.Strings(ks)
			e.FalseMerges = append(e.FalseMerges, ks)
		}
	}
	labs := make([]string, 0, len(byLabel))
	for l := range byLabel {
		labs = append(labs, l)
	}
	sort.Strings(labs)
	for _, l := range labs {
		if len(byLabel[l]) > 1 && len(e.Missed) < 20 {
			var ks []string
			for _, lk := range links {
				if labels[lk.AccountKey] == l {
					ks = append(ks, lk.AccountKey)
				}
			}
			e.Missed = append(e.Missed, ks)
		}
	}
	return e
}

// Evaluator scores a resolution streamed person by person (for populations
// too large to hold every link): Add each person's links, then Result.
type Evaluator struct {
	label   func(accountKey string) (string, bool)
	truth   map[string]int64
	e       Eval
	scratch map[string]int64
}

// NewEvaluator starts a streaming evaluation; label gives an account's true person.
func NewEvaluator(label func(accountKey string) (string, bool)) *Evaluator {
	return &Evaluator{label: label, truth: map[string]int64{}, scratch: map[string]int64{}}
}

// Add scores the links of one person.
func (v *Evaluator) Add(links []contract.PersonLink) {
	if len(links) == 1 { // one account: no pair, only its label's count
		if lab, ok := v.label(links[0].AccountKey); ok {
			v.truth[lab]++
		}
		return
	}
	clear(v.scratch)
	var n int64
	for _, l := range links {
		lab, ok := v.label(l.AccountKey)
		if !ok {
			continue
		}
		n++
		v.scratch[lab]++
		v.truth[lab]++
	}
	v.e.PredictedPairs += n * (n - 1) / 2
	for _, c := range v.scratch {
		v.e.CorrectPairs += c * (c - 1) / 2
	}
	if len(v.scratch) > 1 && len(v.e.FalseMerges) < 20 {
		var ks []string
		for _, l := range links {
			ks = append(ks, l.AccountKey)
		}
		sort.Strings(ks)
		v.e.FalseMerges = append(v.e.FalseMerges, ks)
	}
}

// Result is the evaluation so far.
func (v *Evaluator) Result() Eval {
	e := v.e
	e.TruePairs = 0
	for _, c := range v.truth {
		e.TruePairs += c * (c - 1) / 2
	}
	e.Precision, e.Recall = 1, 1
	if e.PredictedPairs > 0 {
		e.Precision = float64(e.CorrectPairs) / float64(e.PredictedPairs)
	}
	if e.TruePairs > 0 {
		e.Recall = float64(e.CorrectPairs) / float64(e.TruePairs)
	}
	return e
}
