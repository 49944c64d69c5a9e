package sql_test

import (
	"flag"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	sqlfiles "github.com/otds-highspot/otds-highspot/deploy/sql"
	"github.com/otds-highspot/otds-highspot/internal/contract"
	"github.com/otds-highspot/otds-highspot/transform/history"
)

var update = flag.Bool("update", false, "rewrite athena/ddl.sql from the row types")

// table is one published table and its row type.
type table struct {
	name, stage string
	row         reflect.Type
}

// tables lists every table the pipeline publishes, in docs order. The
// analytics tables reuse the row types of their sources (PII columns hold
// tokens).
var tables = []table{
	{contract.AccountsSpec.Name, "extract.<tree>", reflect.TypeFor[contract.Account]()},
	{contract.GroupsSpec.Name, "extract.<tree>", reflect.TypeFor[contract.Group]()},
	{contract.MembershipsSpec.Name, "extract.<tree>", reflect.TypeFor[contract.Membership]()},
	{contract.RejectsSpec.Name, "extract.<tree>", reflect.TypeFor[contract.Reject]()},
	{contract.AccountsNormalizedSpec.Name, "transform", reflect.TypeFor[contract.AccountNormalized]()},
	{contract.EffectiveMembershipsSpec.Name, "transform", reflect.TypeFor[contract.EffectiveMembership]()},
	{contract.PersonsSpec.Name, "transform", reflect.TypeFor[contract.Person]()},
	{contract.PersonLinksSpec.Name, "transform", reflect.TypeFor[contract.PersonLink]()},
	{contract.MatchReviewSpec.Name, "transform", reflect.TypeFor[contract.MatchReview]()},
	{contract.HighspotUsersSpec.Name, "pull", reflect.TypeFor[contract.HighspotUser]()},
	{contract.HighspotGroupsSpec.Name, "pull", reflect.TypeFor[contract.HighspotGroup]()},
	{contract.DriftSpec.Name, "pull", reflect.TypeFor[contract.Drift]()},
	{contract.DesiredUsersSpec.Name, "plan", reflect.TypeFor[contract.DesiredUser]()},
	{contract.ChangesSpec.Name, "plan", reflect.TypeFor[contract.Change]()},
	{contract.LoadResultsSpec.Name, "apply", reflect.TypeFor[contract.LoadResult]()},
	{contract.IdentityHistorySpec.Name, "history", reflect.TypeFor[history.Row]()},
	{contract.AccessHistorySpec.Name, "history", reflect.TypeFor[history.Row]()},
	{contract.AccessReviewSpec.Name, "review", reflect.TypeFor[contract.AccessReview]()},
	{"analytics_persons", "analytics", reflect.TypeFor[contract.Person]()},
	{"analytics_accounts_normalized", "analytics", reflect.TypeFor[contract.AccountNormalized]()},
	{"analytics_person_links", "analytics", reflect.TypeFor[contract.PersonLink]()},
}

// athenaType is the Hive/Athena type of a Go field as internal/artifact
// writes it.
func athenaType(t reflect.Type) string {
	switch {
	case t == reflect.TypeFor[time.Time](), t == reflect.TypeFor[*time.Time]():
		return "timestamp"
	case t == reflect.TypeFor[*string]():
		return "string"
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int32:
		return "int"
	case reflect.Int64:
		return "bigint"
	case reflect.Float64:
		return "double"
	case reflect.Slice:
		return "array<string>"
	case reflect.Map:
		if t.Elem().Kind() == reflect.Slice {
			return "map<string,array<string>>"
		}
		return "map<string,string>"
	}
	panic("unsupported field type " + t.String())
}

func columns(t reflect.Type) [][2]string {
	var out [][2]string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag, ok := f.Tag.Lookup("parquet")
		if !ok || tag == "-" || !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		out = append(out, [2]string{name, athenaType(f.Type)})
	}
	return out
}

const ddlHeader = `-- Athena / Glue DDL for an otds-highspot artifact store on S3.
-- Generated from internal/contract by deploy/sql/files_test.go
-- (go test ./deploy/sql -run TestAthenaDDL -update); do not edit by hand.
--
-- Placeholders: ${database} (Glue database), ${location} (s3://bucket/prefix,
-- no trailing slash), ${start_date} (first dt to project, YYYY-MM-DD).
-- ${dt} and ${run_id} are Athena's own projection templates: keep them.
--
-- Partitions: dt is projected as a date range (${start_date} .. NOW, daily);
-- run_id is INJECTED: every query must name the run(s) with static equality,
--   WHERE run_id = '20261125T235959Z-1a2b'   or   WHERE run_id IN ('a', 'b')
-- (see README.md for why, and how to find the latest run id).
-- Athena reads every file under a partition: only published parts are ever
-- there (attempts write to _staging/ and the commit copies parts into place).
`

func renderDDL() string {
	var b strings.Builder
	b.WriteString(ddlHeader)
	for _, tb := range tables {
		fmt.Fprintf(&b, "\n-- %s (stage %s)\n", tb.name, tb.stage)
		fmt.Fprintf(&b, "CREATE EXTERNAL TABLE IF NOT EXISTS `${database}`.`%s` (\n", tb.name)
		cols := columns(tb.row)
		for i, c := range cols {
			sep := ","
			if i == len(cols)-1 {
				sep = ""
			}
			fmt.Fprintf(&b, "  `%s` %s%s\n", c[0], c[1], sep)
		}
		fmt.Fprintf(&b, ")\nPARTITIONED BY (`dt` string, `run_id` string)\nSTORED AS PARQUET\n")
		fmt.Fprintf(&b, "LOCATION '${location}/%s/'\nTBLPROPERTIES (\n", tb.name)
		for _, kv := range [][2]string{
			{"projection.enabled", "true"},
			{"projection.dt.type", "date"},
			{"projection.dt.format", "yyyy-MM-dd"},
			{"projection.dt.range", "${start_date},NOW"},
			{"projection.dt.interval", "1"},
			{"projection.dt.interval.unit", "DAYS"},
			{"projection.run_id.type", "injected"},
			{"storage.location.template", "${location}/" + tb.name + "/dt=${dt}/run_id=${run_id}/"},
			{"parquet.compression", "ZSTD"},
		} {
			sep := ","
			if kv[0] == "parquet.compression" {
				sep = ""
			}
			fmt.Fprintf(&b, "  '%s' = '%s'%s\n", kv[0], kv[1], sep)
		}
		b.WriteString(");\n")
	}
	return b.String()
}

func TestAthenaDDL(t *testing.T) {
	want := renderDDL()
	if *update {
		if err := os.WriteFile("athena/ddl.sql", []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile("athena/ddl.sql")
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Errorf("athena/ddl.sql is out of date with internal/contract; run go test ./deploy/sql -run TestAthenaDDL -update")
	}
	// No data column may share a name with a partition column.
	for _, tb := range tables {
		for _, c := range columns(tb.row) {
			if c[0] == "dt" || c[0] == "run_id" {
				t.Errorf("table %s: column %q collides with a partition column", tb.name, c[0])
			}
		}
	}
	out := sqlfiles.AthenaDDL("s3://b/p/", "otds", "2026-01-01")
	for _, s := range []string{"LOCATION 's3://b/p/persons/'", "`otds`.`persons`", "'2026-01-01,NOW'", "dt=${dt}/run_id=${run_id}/"} {
		if !strings.Contains(out, s) {
			t.Errorf("AthenaDDL output lacks %q", s)
		}
	}
}

// TestDuckDBViewsCoverEveryTable checks views.sql has one view per table.
func TestDuckDBViewsCoverEveryTable(t *testing.T) {
	views := map[string]bool{}
	re := regexp.MustCompile(`(?m)^CREATE OR REPLACE VIEW "([a-z_]+)" AS`)
	for _, m := range re.FindAllStringSubmatch(sqlfiles.DuckDBViews("/x"), -1) {
		views[m[1]] = true
	}
	for _, tb := range tables {
		if !views[tb.name] {
			t.Errorf("views.sql has no view for table %s", tb.name)
		}
	}
	if got := sqlfiles.DuckDBViews("s3://b/p/"); !strings.Contains(got, "'s3://b/p/persons/*/*/*.parquet'") || strings.Contains(got, "${root}") {
		t.Errorf("DuckDBViews did not substitute the root")
	}
}

func TestStatements(t *testing.T) {
	got := sqlfiles.Statements("-- a; comment\nSELECT 1;\n\nSELECT\n  2;\nSELECT 3")
	want := []string{"SELECT 1;", "SELECT\n  2;", "SELECT 3"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %q, want %q", got, want)
	}
}
