//go:build duckdb

package sql_test

import (
	"context"
	stdsql "database/sql"
	"fmt"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"

	sqlfiles "github.com/otds-highspot/otds-highspot/deploy/sql"
	"github.com/otds-highspot/otds-highspot/internal/artifact"
	"github.com/otds-highspot/otds-highspot/internal/contract"
	"github.com/otds-highspot/otds-highspot/internal/store"
	"github.com/otds-highspot/otds-highspot/transform/history"
)

const (
	run1 = "20260301T020000Z-aaaa"
	run2 = "20260302T020000Z-bbbb"
)

func ts(s string) *time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return &t
}

func write[T any](t *testing.T, s *artifact.Stage, spec contract.Spec, rows ...T) {
	t.Helper()
	w, err := artifact.OpenTable[T](s, spec)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
}

func commit(t *testing.T, s *artifact.Stage) {
	t.Helper()
	if _, _, err := s.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// seed writes two runs over two dates: extract (accounts), transform
// (persons), plan (desired_users, run 1 only), history (real stage), and an
// orphan load_results part that no manifest lists.
func seed(t *testing.T, root string) {
	ctx := context.Background()
	st, err := store.NewFileStore(root)
	if err != nil {
		t.Fatal(err)
	}
	env := func(run string) artifact.Env {
		return artifact.Env{Store: st, RunID: run, TempDir: t.TempDir(), Host: "test"}
	}

	ann := contract.Person{PersonID: "p-ann", PrimaryEmail: "ann@acme.com", Emails: []string{"ann@acme.com", "ann@old.acme.com"},
		Status: "enabled", Region: "emea", Role: "sales", Attributes: map[string]string{"cost_center": "C1"},
		Trees: []string{"acme"}, AccountKeys: []string{"acme/1"}, Groups: []string{"acme:sales"},
		SourceOf: map[string]string{"email": "acme/1"}, ModifiedAt: ts("2026-02-27T10:11:12.123456Z")}
	bob := contract.Person{PersonID: "p-bob", PrimaryEmail: "bob@acme.com", Emails: []string{"bob@acme.com"},
		Status: "enabled", Region: "amer", Role: "sales", Trees: []string{"acme"}, AccountKeys: []string{"acme/2"},
		Groups: []string{"acme:sales"}} // ModifiedAt nil
	cat := contract.Person{PersonID: "p-cat", PrimaryEmail: "cat@acme.com", Status: "enabled", Region: "apac", Groups: []string{"acme:eng"}}

	acct := func(id, mail string, mod *time.Time) contract.Account {
		return contract.Account{Tree: "acme", Partition: "Acme", DN: "cn=" + id + ",ou=Acme", SourceID: id,
			Login: []string{id}, Mail: []string{mail}, ModifiedAt: mod,
			Extra: map[string][]string{"territory": {"north", "west"}}}
	}

	// Run 1: ann, bob, cat; a published plan gives ann and bob Highspot access.
	s := artifact.NewStage(env(run1), "extract.acme")
	write(t, s, contract.AccountsSpec, acct("1", "ann@acme.com", ts("2026-02-27T10:11:12.123456Z")), acct("2", "bob@acme.com", nil), acct("3", "cat@acme.com", nil))
	// dict-encoded columns (`parquet:",dict"`): group_dn, path...
	write(t, s, contract.MembershipsSpec,
		contract.Membership{Tree: "acme", Partition: "Acme", GroupDN: "cn=sales,ou=Acme", GroupSourceID: "g1", MemberDN: "cn=1,ou=Acme", MemberSourceID: "1", MemberKind: "user", MemberPartition: "Acme"},
		contract.Membership{Tree: "acme", Partition: "Acme", GroupDN: "cn=sales,ou=Acme", GroupSourceID: "g1", MemberDN: "cn=2,ou=Acme", MemberSourceID: "2", MemberKind: "user", MemberPartition: "Acme"},
		contract.Membership{Tree: "acme", Partition: "Acme", GroupDN: "cn=eng,ou=Acme", GroupSourceID: "g2", MemberDN: "cn=3,ou=Acme", MemberSourceID: "3", MemberKind: "user", MemberPartition: "Acme"})
	commit(t, s)
	s = artifact.NewStage(env(run1), "transform")
	write(t, s, contract.PersonsSpec, ann, bob, cat)
	write(t, s, contract.EffectiveMembershipsSpec,
		contract.EffectiveMembership{AccountKey: "acme/1", Tree: "acme", GroupKey: "acme/g1", GroupDN: "cn=sales,ou=Acme", GroupName: "sales", Direct: true},
		contract.EffectiveMembership{AccountKey: "acme/1", Tree: "acme", GroupKey: "acme/g0", GroupDN: "cn=all,ou=Acme", GroupName: "all", Depth: 1, Path: []string{"sales", "all"}},
		contract.EffectiveMembership{AccountKey: "acme/2", Tree: "acme", GroupKey: "acme/g1", GroupDN: "cn=sales,ou=Acme", GroupName: "sales", Direct: true})
	write[contract.MatchReview](t, s, contract.MatchReviewSpec) // empty: no part file
	commit(t, s)
	s = artifact.NewStage(env(run1), "plan")
	write(t, s, contract.DesiredUsersSpec,
		contract.DesiredUser{PersonID: "p-ann", Email: "ann@acme.com", Groups: []string{"Sales", "Sales EMEA"}, GroupRules: map[string]string{"Sales": "r1"}},
		contract.DesiredUser{PersonID: "p-bob", Email: "bob@acme.com", Groups: []string{"Sales"}})
	commit(t, s)
	if _, err := history.Run(ctx, env(run1), history.Options{}); err != nil {
		t.Fatal(err)
	}

	// Run 2: bob moves to emea, cat leaves; no plan (directory access).
	bob2 := bob
	bob2.Region = "emea"
	s = artifact.NewStage(env(run2), "extract.acme")
	write(t, s, contract.AccountsSpec, acct("1", "ann@acme.com", nil), acct("2", "bob@acme.com", nil))
	commit(t, s)
	s = artifact.NewStage(env(run2), "transform")
	write(t, s, contract.PersonsSpec, ann, bob2)
	commit(t, s)
	if _, err := history.Run(ctx, env(run2), history.Options{}); err != nil {
		t.Fatal(err)
	}

	// An apply that flushed a ledger part and crashed before its manifest.
	s = artifact.NewStage(env(run2), "apply")
	w, err := artifact.OpenTable[contract.LoadResult](s, contract.LoadResultsSpec)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(contract.LoadResult{ChangeID: "c1", Status: contract.StatusApplied, At: time.Date(2026, 3, 2, 3, 0, 0, 0, time.UTC)}); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	s.Abort()
	// The flushed part is in the staging area, outside the table. Put a copy
	// in the table prefix, as program versions before the staging area left
	// orphans there: the views must still leave it out.
	staged, err := st.List(ctx, artifact.StagingPrefix(run2))
	if err != nil || len(staged) != 1 {
		t.Fatalf("staged ledger parts: %v %v, want 1", staged, err)
	}
	prefix, err := artifact.TablePrefix(contract.LoadResultsSpec.Name, run2)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Copy(ctx, st, staged[0].Key, prefix+path.Base(staged[0].Key)); err != nil {
		t.Fatal(err)
	}
}

func TestDuckDBViews(t *testing.T) {
	root := t.TempDir()
	seed(t, root)
	if files, _ := filepath.Glob(filepath.Join(root, "load_results", "*", "*", "*.parquet")); len(files) != 1 {
		t.Fatalf("orphan load_results parts on disk: got %d, want 1", len(files))
	}

	db, err := stdsql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1) // one connection: SET TimeZone applies to every query
	if _, err := db.Exec("SET TimeZone = 'UTC'"); err != nil {
		t.Fatal(err)
	}

	// Load the SHIPPED views, statement by statement, as the DuckDB CLI does.
	written := map[string]bool{"accounts": true, "persons": true, "desired_users": true, "identity_history": true, "load_results": true,
		"memberships": true, "effective_memberships": true}
	var failed []string
	for _, stmt := range sqlfiles.Statements(sqlfiles.DuckDBViews(root)) {
		if _, err := db.Exec(stmt); err != nil {
			name := viewName(stmt)
			if strings.Contains(err.Error(), "No files found") && !written[name] {
				failed = append(failed, name)
				continue
			}
			t.Fatalf("views.sql statement for %q failed: %v\n%s", name, err, stmt)
		}
	}
	if !slices.Contains(failed, "match_review") {
		t.Errorf("match_review (always empty) view: got created, want \"No files found\" (empty tables write no part file)")
	}

	query := func(q string, args ...any) [][]string {
		t.Helper()
		rows, err := db.Query(q, args...)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		defer rows.Close()
		cols, _ := rows.Columns()
		var out [][]string
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			row := make([]string, len(cols))
			for i, v := range vals {
				switch v := v.(type) {
				case nil:
					row[i] = "NULL"
				case time.Time:
					row[i] = v.UTC().Format(time.RFC3339Nano)
				default:
					row[i] = fmt.Sprint(v)
				}
			}
			out = append(out, row)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return out
	}
	check := func(name, q string, want [][]string) {
		t.Helper()
		got := query(q)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s:\n  query %s\n  got  %v\n  want %v", name, q, got, want)
		}
	}

	check("partitions and row counts",
		`SELECT strftime(dt, '%Y-%m-%d'), run_id, count(*) FROM accounts GROUP BY ALL ORDER BY ALL`,
		[][]string{{"2026-03-01", run1, "3"}, {"2026-03-02", run2, "2"}})
	check("persons per run",
		`SELECT run_id, count(*) FROM persons GROUP BY ALL ORDER BY ALL`,
		[][]string{{run1, "3"}, {run2, "2"}})
	check("latest_persons",
		`SELECT person_id, region FROM latest_persons ORDER BY ALL`,
		[][]string{{"p-ann", "emea"}, {"p-bob", "emea"}})
	check("unpublished parts are not shown",
		`SELECT count(*) FROM load_results`, [][]string{{"0"}})
	check("published_files",
		`SELECT table_name, count(*), sum("rows") FROM published_files GROUP BY ALL ORDER BY ALL`,
		[][]string{{"accounts", "2", "5"}, {"desired_users", "1", "2"}, {"effective_memberships", "1", "3"}, {"identity_history", "2", "8"},
			{"memberships", "1", "3"}, {"persons", "2", "5"}})
	check("runs",
		`SELECT run_id, stages FROM runs ORDER BY run_id`,
		[][]string{{run1, "[extract.acme history plan transform]"}, {run2, "[extract.acme history transform]"}})

	// Column types as DuckDB sees them.
	types := map[string]string{}
	for _, tbl := range []string{"accounts", "persons", "desired_users", "identity_history", "effective_memberships", "memberships"} {
		for _, r := range query(`SELECT column_name, column_type FROM (DESCRIBE ` + tbl + `)`) {
			types[tbl+"."+r[0]] = r[1]
		}
	}
	wantTypes := map[string]string{
		"accounts.dt":                 "DATE",
		"accounts.run_id":             "VARCHAR",
		"accounts.modified_at":        "TIMESTAMP WITH TIME ZONE",
		"accounts.login":              "VARCHAR[]",
		"accounts.extra":              "MAP(VARCHAR, VARCHAR[])",
		"persons.person_id":           "VARCHAR",
		"persons.is_service":          "BOOLEAN",
		"persons.emails":              "VARCHAR[]",
		"persons.attributes":          "MAP(VARCHAR, VARCHAR)",
		"persons.modified_at":         "TIMESTAMP WITH TIME ZONE",
		"desired_users.group_rules":   "MAP(VARCHAR, VARCHAR)",
		"identity_history.valid_from": "TIMESTAMP WITH TIME ZONE",
		"identity_history.valid_to":   "TIMESTAMP WITH TIME ZONE",
		"identity_history.groups":     "VARCHAR[]",
		// dictionary-encoded in the file, plain text to a reader
		"effective_memberships.group_dn": "VARCHAR",
		"effective_memberships.path":     "VARCHAR[]",
		"memberships.group_dn":           "VARCHAR",
	}
	for col, want := range wantTypes {
		if got := types[col]; got != want {
			t.Errorf("type of %s: got %q, want %q", col, got, want)
		}
	}

	check("lists, maps and nullable timestamps read back",
		`SELECT person_id, emails, attributes['cost_center'], modified_at, source_of['email']
		 FROM persons WHERE run_id = '`+run1+`' ORDER BY person_id`,
		[][]string{
			{"p-ann", "[ann@acme.com ann@old.acme.com]", "C1", "2026-02-27T10:11:12.123456Z", "acme/1"},
			{"p-bob", "[bob@acme.com]", "NULL", "NULL", "NULL"},
			{"p-cat", "[]", "NULL", "NULL", "NULL"},
		})
	check("dictionary-encoded columns read back",
		`SELECT account_key, group_dn, group_name, path FROM effective_memberships ORDER BY ALL`,
		[][]string{{"acme/1", "cn=all,ou=Acme", "all", "[sales all]"}, {"acme/1", "cn=sales,ou=Acme", "sales", "[]"}, {"acme/2", "cn=sales,ou=Acme", "sales", "[]"}})
	check("memberships per group",
		`SELECT group_dn, member_kind, count(*) FROM memberships GROUP BY ALL ORDER BY ALL`,
		[][]string{{"cn=eng,ou=Acme", "user", "1"}, {"cn=sales,ou=Acme", "user", "2"}})
	check("map of lists",
		`SELECT DISTINCT extra['territory'] FROM accounts`, [][]string{{"[north west]"}})

	// History: who had which access on a date, in one query.
	check("access on day 1",
		`SELECT person_id, "groups", attributes['region'] FROM access_on(TIMESTAMPTZ '2026-03-01 12:00:00+00') ORDER BY ALL`,
		[][]string{{"p-ann", "[Sales Sales EMEA]", "emea"}, {"p-bob", "[Sales]", "amer"}, {"p-cat", "[]", "apac"}})
	check("access on day 2",
		`SELECT person_id, "groups", attributes['region'] FROM access_on(TIMESTAMPTZ '2026-03-02 12:00:00+00') ORDER BY ALL`,
		[][]string{{"p-ann", "[acme:sales]", "emea"}, {"p-bob", "[acme:sales]", "emea"}})
	check("the documented one-query form",
		`SELECT count(*) FROM identity_history
		 WHERE run_id = (SELECT max(run_id) FROM identity_history)
		   AND valid_from <= TIMESTAMPTZ '2026-03-01 12:00:00+00'
		   AND (valid_to IS NULL OR valid_to > TIMESTAMPTZ '2026-03-01 12:00:00+00')`,
		[][]string{{"3"}})
	check("access_on_groups",
		`SELECT "group", count(*) FROM access_on_groups(TIMESTAMPTZ '2026-03-01 12:00:00+00') GROUP BY ALL ORDER BY ALL`,
		[][]string{{"Sales", "2"}, {"Sales EMEA", "1"}})
	check("history closes the leaver at run 2",
		`SELECT person_id, valid_to, opened_run_id FROM identity_history_latest WHERE person_id = 'p-cat'`,
		[][]string{{"p-cat", "2026-03-02T02:00:00Z", run1}})
}

// viewName finds the object a CREATE statement makes.
func viewName(stmt string) string {
	f := strings.Fields(stmt)
	for i, w := range f {
		if (strings.EqualFold(w, "VIEW") || strings.EqualFold(w, "MACRO")) && i+1 < len(f) {
			return strings.Trim(strings.TrimSuffix(f[i+1], "(x)"), `"`)
		}
	}
	return stmt
}
