// Package contract holds what the stages agree on: the names they publish
// manifests under, the typed summaries they write into those manifests and
// the change payload the plan hands to apply. A writer and its reader use
// the same definition here instead of each spelling the string itself.
package contract

import (
	"fmt"
	"strings"
)

// Stage is the name a stage publishes its manifest under.
type Stage string

// Stage names, extract first. Extract alone is the command and log name;
// each tree publishes as ExtractStage(tree).
const (
	Extract   Stage = "extract"
	Transform Stage = "transform"
	Pull      Stage = "pull"
	Plan      Stage = "plan"
	Apply     Stage = "apply"
	History   Stage = "history"
	Analytics Stage = "analytics"
	Review    Stage = "review"
)

// RunOrder is the order "run" executes the stages in (its --from/--until
// names).
var RunOrder = []Stage{Extract, Transform, Pull, Plan, Apply}

// ApplyAttemptPrefix starts the name of an apply attempt that left changes
// failed ("apply.attempt-NNN").
const ApplyAttemptPrefix = string(Apply) + ".attempt-"

// ApplyAttemptStage is the stage of apply attempt n (1-based) that left
// changes failed ("apply.attempt-00n").
func ApplyAttemptStage(n int) Stage { return Stage(fmt.Sprintf("%s%03d", ApplyAttemptPrefix, n)) }

// ExtractStage is the stage a tree's extract publishes under ("extract.<tree>").
func ExtractStage(tree string) Stage { return Stage(string(Extract) + "." + tree) }

// ExtractTree returns the tree of an "extract.<tree>" stage and whether s is one.
func (s Stage) ExtractTree() (string, bool) {
	tree, ok := strings.CutPrefix(string(s), string(Extract)+".")
	if !ok || tree == "" {
		return "", false
	}
	return tree, true
}

// String is the name as stored.
func (s Stage) String() string { return string(s) }
