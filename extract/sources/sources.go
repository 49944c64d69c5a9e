// Package sources owns the default source factory of the extract stage: it
// builds the ldap, otds-rest or ldif source for a tree. It lives apart from
// package extract because every source imports extract (for Sink).
package sources

import (
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/sirupsen/logrus"

	"github.com/otds-highspot/otds-highspot/extract"
	"github.com/otds-highspot/otds-highspot/extract/extractconf"
	"github.com/otds-highspot/otds-highspot/extract/ldap"
	"github.com/otds-highspot/otds-highspot/extract/ldif"
)

// Deps are what the sources need from the program.
type Deps struct {
	Getenv func(string) string
	Log    logrus.FieldLogger
	// HTTP is the client of the otds-rest source (never http.DefaultClient).
	HTTP *http.Client
	// OpenLDIF opens an LDIF file (local path or object in the store).
	OpenLDIF func(ctx context.Context, path string) (io.ReadCloser, error)
	// NewREST builds the otds-rest source (extract/otdsrest.New).
	NewREST func(tree extractconf.Tree, getenv func(string) string, client *http.Client, log logrus.FieldLogger) (extract.Source, error)
}

// Factory returns an extract.Options.NewSource that builds each tree's source.
func Factory(d Deps) func(tree extractconf.Tree) (extract.Source, error) {
	return func(tree extractconf.Tree) (extract.Source, error) {
		switch tree.Source {
		case "ldap":
			return ldap.New(tree, d.Getenv, d.Log)
		case "ldif":
			if d.OpenLDIF == nil {
				return nil, fmt.Errorf("tree %s: no LDIF opener wired (sources.Deps.OpenLDIF)", tree.Name)
			}
			return ldif.New(tree, d.OpenLDIF, d.Log)
		case "otds-rest":
			if d.NewREST == nil {
				return nil, fmt.Errorf("tree %s: the otds-rest source is not wired (sources.Deps.NewREST)", tree.Name)
			}
			return d.NewREST(tree, d.Getenv, d.HTTP, d.Log)
		}
		return nil, fmt.Errorf("tree %s: unknown source %q; use ldap, otds-rest or ldif", tree.Name, tree.Source)
	}
}
