package analytics

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/otds-highspot/otds-highspot/internal/artifact"
	"github.com/otds-highspot/otds-highspot/internal/config"
	"github.com/otds-highspot/otds-highspot/internal/contract"
)

// Options configure Run.
type Options struct {
	// Key is the HMAC key (config operate.analytics.key, resolved with
	// config.SecretRef.Resolve). Never logged.
	Key config.Secret
	// Allow replaces DefaultAllow per source table (persons,
	// accounts_normalized, person_links): the columns, and "column.key" map
	// entries, copied in clear. A table not named keeps its default.
	Allow map[string][]string
	// Columns are columns that must be hashed even when allowed (the older
	// setting; everything not allowed is hashed anyway).
	Columns map[string][]string
}

// OptionsFromConfig resolves the key through getenv (injected: library code
// never reads the environment itself).
func OptionsFromConfig(a config.Analytics, getenv func(string) string) (Options, error) {
	key, err := a.Key.Resolve("operate.analytics.key", getenv)
	if err != nil {
		return Options{}, fmt.Errorf("analytics: %w", err)
	}
	return Options{Key: key, Allow: a.Allow, Columns: a.Columns}, nil
}

// Result counts the rows copied per analytics table.
type Result struct {
	Rows map[string]int64
	Ref  artifact.Ref
}

// Run publishes stage "analytics" for env.RunID: tokenized copies of the
// run's published transform tables persons, accounts_normalized and
// person_links (a table the transform did not publish is skipped).
func Run(ctx context.Context, env artifact.Env, opts Options) (Result, error) {
	if env.Store == nil {
		return Result{}, errors.New("analytics: no store configured")
	}
	h, err := NewHasher([]byte(opts.Key.Reveal()))
	if err != nil {
		return Result{}, fmt.Errorf("analytics: operate.analytics.key: %w", err)
	}
	cols := func(table string) []string {
		allow, ok := opts.Allow[table]
		if !ok {
			allow = DefaultAllow[table]
		}
		return slices.DeleteFunc(slices.Clone(allow), func(c string) bool {
			col, _, _ := strings.Cut(c, ".")
			return slices.Contains(opts.Columns[table], col)
		})
	}
	tm, tref, err := artifact.ReadManifest(ctx, env.Store, env.RunID, contract.Transform)
	if err != nil {
		return Result{}, fmt.Errorf("analytics: run %s: %w; run `otds-highspot transform` first", env.RunID, err)
	}
	if tm.Status != artifact.StatusPublished {
		return Result{}, fmt.Errorf("analytics: transform of run %s is %s, not published", env.RunID, tm.Status)
	}
	stage := artifact.NewStage(env, contract.Analytics)
	stage.AddInput(tref)
	res := Result{Rows: map[string]int64{}}
	steps := []func() error{
		func() error {
			return copyTable[contract.Person](ctx, env, stage, tm, h, contract.PersonsSpec, PersonsSpec, cols(contract.PersonsSpec.Name), res.Rows)
		},
		func() error {
			return copyTable[contract.AccountNormalized](ctx, env, stage, tm, h, contract.AccountsNormalizedSpec, AccountsNormalizedSpec, cols(contract.AccountsNormalizedSpec.Name), res.Rows)
		},
		func() error {
			return copyTable[contract.PersonLink](ctx, env, stage, tm, h, contract.PersonLinksSpec, PersonLinksSpec, cols(contract.PersonLinksSpec.Name), res.Rows)
		},
	}
	for _, step := range steps {
		if err := step(); err != nil {
			stage.Abort()
			return Result{}, fmt.Errorf("analytics: %w", err)
		}
	}
	for n, r := range res.Rows {
		stage.SetSummary(n, r)
	}
	ref, _, err := stage.Commit(ctx)
	if err != nil {
		return Result{}, fmt.Errorf("analytics: %w", err)
	}
	res.Ref = ref
	return res, nil
}

// copyTable streams one source table into its tokenized copy.
func copyTable[T any](ctx context.Context, env artifact.Env, stage *artifact.Stage, m *artifact.Manifest, h *Hasher, from, to contract.Spec, columns []string, rows map[string]int64) error {
	if _, ok := m.Tables[from.Name]; !ok {
		return nil
	}
	tz, err := NewTokenizer[T](h, columns)
	if err != nil {
		return fmt.Errorf("operate.analytics.allow.%s: %w", from.Name, err)
	}
	w, err := artifact.OpenTable[T](stage, to)
	if err != nil {
		return err
	}
	err = artifact.ReadTable(ctx, env.Store, m, from, func(r T) error {
		return w.Write(tz.Apply(r))
	}, artifact.WithTempDir(env.TempDir))
	if err != nil {
		return fmt.Errorf("copy %s: %w", from.Name, err)
	}
	rows[to.Name] = w.Rows()
	return nil
}
