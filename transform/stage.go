package transform

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"time"

	"github.com/sirupsen/logrus"
	"go.yaml.in/yaml/v3"

	"github.com/otds-highspot/otds-highspot/internal/artifact"
	"github.com/otds-highspot/otds-highspot/internal/config"
	"github.com/otds-highspot/otds-highspot/internal/contract"
	"github.com/otds-highspot/otds-highspot/internal/exitcode"
	"github.com/otds-highspot/otds-highspot/internal/store"
)

// Options tune one transform run.
type Options struct {
	// OverridesKey is a store key of an override file (YAML with force_link /
	// force_split lists, or CSV rows "force_link|force_split,account,...");
	// "" = transform.overrides.file from the config, if any.
	OverridesKey string
	// Overrides are added to the config's and the file's.
	Overrides Overrides
	// AllowMissingTrees continues when a configured tree has no published
	// extract in this run (its accounts would look like mass leavers
	// downstream: only for a deliberate partial run).
	AllowMissingTrees bool
	// Now is the clock (nil = env.Now / time.Now).
	Now func() time.Time
}

// Result summarizes a published transform.
type Result struct {
	Ref          artifact.Ref
	Accounts     int64
	Memberships  int64
	Persons      int64
	Links        int64
	Reviews      int64
	MissingTrees []string
	Graph        GraphStats
	Warnings     []string
	Duration     time.Duration
}

// Run reads this run's published extract of every configured tree, the
// previous transform's person links and the overrides, and publishes stage
// "transform" with accounts_normalized, effective_memberships, persons,
// person_links and match_review.
func Run(ctx context.Context, env artifact.Env, cfg *config.Config, opts Options) (*Result, error) {
	now := opts.Now
	if now == nil {
		now = env.Now
	}
	if now == nil {
		now = time.Now
	}
	start := now()
	log := env.Log
	if log == nil {
		l := logrus.New()
		l.SetOutput(io.Discard)
		log = l
	}
	st := env.Store
	n, err := NewNormalizer(&cfg.Transform)
	if err != nil {
		return nil, exitcode.Wrap(exitcode.Usage, err)
	}

	// 1. inputs: every configured tree's extract, all or nothing
	stage := artifact.NewStage(env, contract.Transform)
	stage.EncodeInline() // each table is written from its own asyncWriter goroutine
	committed := false
	defer func() {
		if !committed {
			stage.Abort()
		}
	}()
	res := &Result{}
	var extracts []*artifact.Manifest
	for _, tree := range cfg.TreeNames() {
		m, ref, err := artifact.ReadManifest(ctx, st, env.RunID, contract.ExtractStage(tree))
		if errors.Is(err, artifact.ErrNotPublished) || err == nil && m.Status != artifact.StatusPublished {
			res.MissingTrees = append(res.MissingTrees, tree)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("transform: read extract manifest of tree %s in run %s: %w", tree, env.RunID, err)
		}
		stage.AddInput(ref)
		extracts = append(extracts, m)
	}
	if len(res.MissingTrees) > 0 {
		if !opts.AllowMissingTrees {
			return nil, exitcode.New(exitcode.SourceGate, "transform: run %s has no published extract for tree(s) %s; run extract for them first (continuing with a partial set would look like mass leavers downstream; --allow-missing-trees overrides)", env.RunID, strings.Join(res.MissingTrees, ", "))
		}
		log.WithField("trees", res.MissingTrees).Warn("transform: continuing without the extract of some trees (allow-missing-trees)")
	}

	// 2. previous links (stable person ids), read once the graph is built
	var prevM *artifact.Manifest
	pm, pref, err := artifact.LatestManifest(ctx, st, contract.Transform, env.RunID)
	switch {
	case errors.Is(err, artifact.ErrNotPublished):
	case err != nil:
		return nil, fmt.Errorf("transform: find the previous transform: %w", err)
	default:
		prevM = pm
		stage.AddInput(pref)
	}

	// 3. overrides
	ov := mergeOverrides(&cfg.Transform, opts.Overrides)
	key := opts.OverridesKey
	if key == "" {
		key = cfg.Transform.Overrides.File
	}
	if key != "" {
		fo, err := ReadOverrides(ctx, st, key)
		if err != nil {
			return nil, err
		}
		ov.ForceLink = append(ov.ForceLink, fo.ForceLink...)
		ov.ForceSplit = append(ov.ForceSplit, fo.ForceSplit...)
	}

	// 4. graph: groups, account keys, memberships. Only three columns of
	// the accounts are read here; the accounts themselves are read again
	// below, batch by batch, once the graph is built, so the raw population
	// is never held in memory.
	b := NewGraphBuilder()
	var nacc int64
	for _, m := range extracts {
		nacc += m.TableRows(contract.AccountsSpec.Name)
	}
	b.reserve(int(nacc)) // the manifests' row counts: no step-by-step growth
	// the tables are decoded on reader goroutines (two trees at once) while
	// this one adds their rows, in tree order
	par := runtime.GOMAXPROCS(0)
	if err := readAhead(ctx, st, extracts, contract.GroupsSpec, par, 1024, func(_ *artifact.Manifest, rows []contract.Group) error {
		for _, g := range rows {
			b.AddGroup(g)
		}
		return nil
	}); err != nil {
		return nil, err
	}
	nread := 0
	if err := readAhead(ctx, st, extracts, contract.AccountsSpec, par, 4096, func(_ *artifact.Manifest, rows []accountKeyRow) error {
		for _, a := range rows {
			b.AddAccount(a.Tree, a.SourceID, a.DN)
		}
		nread += len(rows)
		return nil
	}); err != nil {
		return nil, err
	}
	if err := readAhead(ctx, st, extracts, contract.MembershipsSpec, par, 4096, func(_ *artifact.Manifest, rows []contract.Membership) error {
		b.AddMemberships(rows)
		return nil
	}); err != nil {
		return nil, err
	}
	g := b.Build()
	res.Graph = g.Stats
	for _, c := range g.Stats.Cycles {
		log.WithField("groups", c).Warn("transform: nested group cycle (expanded once, cannot loop)")
	}

	// the previous links are read beside the normalize pass (they need only
	// the graph); stopped and waited for if the stage fails first
	prevCtx, stopPrev := context.WithCancel(ctx)
	prevDone := make(chan error, 1)
	var prev *prevLinks
	if prevM != nil {
		go func() {
			var err error
			prev, err = readPrevious(prevCtx, st, prevM, g)
			prevDone <- err
		}()
	} else {
		prevDone <- nil
	}
	prevWaited := false
	defer func() {
		stopPrev()
		if !prevWaited {
			<-prevDone
		}
	}()

	// 5. normalize + effective memberships, streamed out: the accounts are
	// decoded on reader goroutines, normalized here (on every core, batch by
	// batch), and each table is encoded on its own writer goroutine
	aw, err := openAsync[contract.AccountNormalized](ctx, stage, contract.AccountsNormalizedSpec, 1024)
	if err != nil {
		return nil, err
	}
	defer aw.stop() // before the stage's Abort (deferred earlier) closes the tables
	ew, err := openAsync[contract.EffectiveMembership](ctx, stage, contract.EffectiveMembershipsSpec, 4096)
	if err != nil {
		return nil, err
	}
	defer ew.stop()
	norm := make([]heldAccount, 0, nread) // what Resolve reads of each written row
	const batch = 2048                    // small: up to 2×3 batches of raw accounts are read ahead
	rows := make([]contract.AccountNormalized, batch)
	refs := make([][]GroupRef, batch)
	workers := runtime.GOMAXPROCS(0)
	var sc batchScratch
	held := newKeeper(1 << 16)
	// one reader: a reader of the wide accounts table holds ~20 MiB of
	// buffers and its record batches' text, and the normalize workers and
	// the two writers use the other core
	err = readAhead(ctx, st, extracts, contract.AccountsSpec, 1, batch, func(_ *artifact.Manifest, raw []contract.Account) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		lo := len(norm)
		if lo+len(raw) > nread {
			return fmt.Errorf("transform: the extracts changed while they were read (%d accounts, then more); run transform again", nread)
		}
		// accounts come in registration order (a key read twice aside)
		normalizeBatch(n, g, raw, rows[:len(raw)], refs[:len(raw)], workers, lo, &sc)
		for i := range raw {
			an := &rows[i]
			if err := aw.Write(*an); err != nil {
				return err
			}
			for _, r := range refs[i] {
				if err := ew.Write(contract.EffectiveMembership{AccountKey: an.AccountKey, Tree: an.Tree, GroupKey: r.Key, GroupDN: r.DN,
					GroupName: r.Name, Direct: r.Direct, Depth: r.Depth, Path: r.Path}); err != nil {
					return err
				}
			}
			norm = append(norm, held.hold(an, g, lo+i)) // Groups are recomputed from the graph when persons are assembled
			*an = contract.AccountNormalized{}
			refs[i] = nil
		}
		return nil
	}, artifact.Columns(normalizeColumns...))
	if err != nil {
		return nil, err
	}
	if len(norm) != nread {
		return nil, fmt.Errorf("transform: the extracts changed while they were read (%d accounts, then %d); run transform again", nread, len(norm))
	}
	rows = nil
	if err := aw.Close(); err != nil {
		return nil, err
	}
	if err := ew.Close(); err != nil {
		return nil, err
	}
	res.Accounts, res.Memberships = aw.Rows(), ew.Rows()

	// 6. resolve, persons and links streamed out as they are assembled
	// The persons rows are wide (lists, maps): appending them to the
	// builders takes the writer goroutine's time, so their Parquet encoding
	// gets a goroutine of its own (the narrow tables encode inline).
	// Each person's SourceOf map (~1 KiB) goes back to Resolve once the
	// persons table has copied the row: a million maps fewer to allocate
	// and collect.
	sourceOfs := newMapPool(4096)
	pw, err := openAsyncReleasing(ctx, stage, contract.PersonsSpec, 512, func(p *contract.Person) { sourceOfs.put(p.SourceOf) },
		(*artifact.TableWriter[contract.Person]).EncodeAsync)
	if err != nil {
		return nil, err
	}
	defer pw.stop()
	lw, err := openAsync[contract.PersonLink](ctx, stage, contract.PersonLinksSpec, 2048)
	if err != nil {
		return nil, err
	}
	defer lw.stop()
	byRule := map[string]int{}
	emit := func(p contract.Person, links []contract.PersonLink) error {
		if err := pw.Write(p); err != nil {
			return err
		}
		for _, l := range links {
			byRule[l.Rule]++
			if err := lw.Write(l); err != nil {
				return err
			}
		}
		return nil
	}
	prevWaited = true
	if err := <-prevDone; err != nil {
		return nil, err
	}
	g.dropKeyIndex() // the held accounts and the previous links know their graph index
	rz, err := Resolve(&cfg.Transform, ResolveInput{held: norm, previous: prev, Overrides: ov, TreeOrder: cfg.TreeNames(),
		GroupNames: g.GroupNames(), groupNamesAt: func(a *heldAccount, _ int) []string {
			if a.graphIdx < 0 {
				return nil
			}
			return g.effectiveNamesOf(a.graphIdx)
		}, sourceOf: sourceOfs.get, Emit: emit})
	if err != nil {
		return nil, err
	}
	norm = nil
	if err := pw.Close(); err != nil {
		return nil, err
	}
	if err := lw.Close(); err != nil {
		return nil, err
	}
	res.Persons, res.Links = pw.Rows(), lw.Rows()
	res.Warnings = rz.Warnings // the caller logs these (they are also in the manifest summary)
	if err := writeAll(stage, contract.MatchReviewSpec, rz.Reviews); err != nil {
		return nil, err
	}
	res.Reviews = int64(len(rz.Reviews))

	// 7. summary and commit
	byReason := map[string]int{}
	for _, r := range rz.Reviews {
		byReason[r.Reason]++
	}
	contract.PutSummary(stage.SetSummary, contract.TransformSummary{
		Accounts: res.Accounts, Persons: res.Persons, EffectiveMemberships: res.Memberships,
		MatchReview: byReason, LinkRules: byRule, Graph: g.Stats, MissingTrees: res.MissingTrees, Warnings: rz.Warnings,
	})
	ref, _, err := stage.Commit(ctx)
	if err != nil {
		return nil, fmt.Errorf("transform: publish: %w", err)
	}
	committed = true
	res.Ref = ref
	res.Duration = now().Sub(start)
	log.WithFields(logrus.Fields{"accounts": res.Accounts, "persons": res.Persons, "reviews": res.Reviews, "memberships": res.Memberships}).Debug("transform: published")
	return res, nil
}

// accountKeyRow is the part of an accounts row the graph needs.
type accountKeyRow struct {
	Tree     string `parquet:"tree"`
	SourceID string `parquet:"source_id"`
	DN       string `parquet:"dn"`
}

// prevLinkRow is the part of a previous person_links row Resolve reads.
type prevLinkRow struct {
	AccountKey string `parquet:"account_key"`
	PersonID   string `parquet:"person_id"`
}

// readPrevious reads the previous run's links: each account's person id (by
// its index in g) and every person id they name.
func readPrevious(ctx context.Context, st store.Store, m *artifact.Manifest, g *Graph) (*prevLinks, error) {
	prev := newPrevLinks(g, int(m.TableRows(contract.PersonLinksSpec.Name)))
	var sc prevScratch
	err := readAhead(ctx, st, []*artifact.Manifest{m}, contract.PersonLinksSpec, 1, 4096, func(_ *artifact.Manifest, rows []prevLinkRow) error {
		prev.addAll(g, rows, &sc)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return prev, nil
}

// normalizeColumns are the accounts columns Normalize reads (the raw
// member_of list, object_guid and created_at are not).
var normalizeColumns = []string{"tree", "partition", "dn", "source_id", "modified_at", "login", "mail", "given_name", "surname",
	"display_name", "employee_id", "title", "department", "company", "country", "city", "manager", "external_id", "disabled",
	"locked", "service_account", "extra"}

func writeAll[T any](stage *artifact.Stage, spec contract.Spec, rows []T) error {
	w, err := artifact.OpenTable[T](stage, spec)
	if err != nil {
		return fmt.Errorf("transform: open %s: %w", spec.Name, err)
	}
	for _, r := range rows {
		if err := w.Write(r); err != nil {
			return fmt.Errorf("transform: write %s: %w", spec.Name, err)
		}
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("transform: close %s: %w", spec.Name, err)
	}
	return nil
}

// ReadOverrides reads an override file from the store: YAML
// (force_link: [[a, b]], force_split: [[c]]) or, for keys ending in .csv,
// rows of "force_link|force_split,<account>,<account>...".
func ReadOverrides(ctx context.Context, st store.Store, key string) (Overrides, error) {
	rc, err := st.Get(ctx, key)
	if err != nil {
		return Overrides{}, exitcode.Wrap(exitcode.Usage, fmt.Errorf("transform: read overrides %s: %w (fix transform.overrides.file or upload the file)", st.URL(key), err))
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		return Overrides{}, fmt.Errorf("transform: read overrides %s: %w", st.URL(key), err)
	}
	o, err := ParseOverrides(key, data)
	if err != nil {
		return Overrides{}, exitcode.Wrap(exitcode.Usage, fmt.Errorf("transform: overrides %s: %w", st.URL(key), err))
	}
	return o, nil
}

// ParseOverrides decodes override file bytes (CSV when name ends in .csv).
func ParseOverrides(name string, data []byte) (Overrides, error) {
	var o Overrides
	if strings.HasSuffix(strings.ToLower(name), ".csv") {
		r := csv.NewReader(bytes.NewReader(data))
		r.FieldsPerRecord = -1
		r.Comment = '#'
		rows, err := r.ReadAll()
		if err != nil {
			return o, err
		}
		for i, row := range rows {
			if len(row) == 0 {
				continue
			}
			var accts []string
			for _, c := range row[1:] {
				if c = strings.TrimSpace(c); c != "" {
					accts = append(accts, c)
				}
			}
			switch strings.TrimSpace(row[0]) {
			case "action":
				continue // header
			case "force_link", "force-link":
				if len(accts) < 2 {
					return o, fmt.Errorf("row %d: force_link needs at least two accounts", i+1)
				}
				o.ForceLink = append(o.ForceLink, accts)
			case "force_split", "force-split":
				o.ForceSplit = append(o.ForceSplit, accts)
			default:
				return o, fmt.Errorf("row %d: unknown action %q; use force_link or force_split", i+1, row[0])
			}
		}
		return o, nil
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&o); err != nil && !errors.Is(err, io.EOF) {
		return o, err
	}
	return o, nil
}

// mapPool hands maps back for reuse between goroutines: put clears a map and
// keeps it (up to the pool's size; past that it is left to the collector),
// get returns a kept map or a new one.
type mapPool struct {
	maps chan map[string]string
}

func newMapPool(size int) *mapPool { return &mapPool{maps: make(chan map[string]string, size)} }

func (p *mapPool) put(m map[string]string) {
	if m == nil {
		return
	}
	clear(m)
	select {
	case p.maps <- m:
	default:
	}
}

// get returns an empty map (a new one sized for n entries when none is kept).
func (p *mapPool) get(n int) map[string]string {
	select {
	case m := <-p.maps:
		return m
	default:
		return make(map[string]string, n)
	}
}
