// Package sql owns the ready-made SQL over the artifact store: DuckDB views
// over the Hive layout (duckdb/views.sql, local folders and S3) and the
// Athena/Glue DDL with partition projection (athena/ddl.sql). The files are
// embedded so the CLI can print them with the placeholders filled in.
//
// The DuckDB test (build tag duckdb) writes real snapshots with
// internal/artifact and queries them through the shipped views.sql.
package sql

import (
	_ "embed"
	"strings"
)

//go:embed duckdb/views.sql
var duckDBViews string

//go:embed athena/ddl.sql
var athenaDDL string

// DuckDBViews returns duckdb/views.sql with ${root} replaced by root: an
// absolute local folder or s3://bucket/prefix (a trailing slash is removed).
func DuckDBViews(root string) string {
	return strings.ReplaceAll(duckDBViews, "${root}", strings.TrimRight(root, "/"))
}

// AthenaDDL returns athena/ddl.sql with ${location} replaced by the store's
// S3 root (s3://bucket/prefix, trailing slash removed), ${database} by the
// Glue database and ${start_date} by the first dt to project (YYYY-MM-DD).
func AthenaDDL(location, database, startDate string) string {
	r := strings.NewReplacer(
		"${location}", strings.TrimRight(location, "/"),
		"${database}", database,
		"${start_date}", startDate,
	)
	return r.Replace(athenaDDL)
}

// Statements splits a SQL script into statements: comment lines (starting
// with --) are dropped and statements end with ";" at the end of a line.
// DuckDB's CLI runs the file as it is; programs that run one statement at a
// time (database/sql drivers) use this.
func Statements(script string) []string {
	var (
		out []string
		cur strings.Builder
	)
	for _, line := range strings.Split(script, "\n") {
		t := strings.TrimSpace(line)
		if t == "" || strings.HasPrefix(t, "--") {
			continue
		}
		cur.WriteString(line)
		cur.WriteString("\n")
		if strings.HasSuffix(t, ";") {
			out = append(out, strings.TrimSpace(cur.String()))
			cur.Reset()
		}
	}
	if s := strings.TrimSpace(cur.String()); s != "" {
		out = append(out, s)
	}
	return out
}
