package plan

import (
	"reflect"
	"testing"
)

// TestEvaluatorBatchesAreDesired: the persons evaluated a batch at a time
// (as Run streams them) give exactly what Desired gives for all at once.
func TestEvaluatorBatchesAreDesired(t *testing.T) {
	pol := loadPolicy(t, "testdata/policy.yaml")
	persons := append(day1(), day2()...) // repeated persons and addresses too
	want := mustEval(t, persons, pol)
	for _, size := range []int{1, 2, 5, len(persons)} {
		e := newEvaluator(pol)
		for lo := 0; lo < len(persons); lo += size {
			if err := e.add(persons[lo:min(lo+size, len(persons))]); err != nil {
				t.Fatal(err)
			}
		}
		if got := e.done(); !reflect.DeepEqual(got, want) {
			t.Errorf("batches of %d: got %+v, want %+v", size, got, want)
		}
	}
}
