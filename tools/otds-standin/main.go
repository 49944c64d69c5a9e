// Command otds-standin serves an LDIF export over the OTDS REST API shapes
// (tools/otds-standin/standin) on a local address, for trying the otds-rest
// source by hand or in benchmarks:
//
//	otds-standin -ldif fixtures/otds/trees.ldif -addr 127.0.0.1:8480
//	# tree config: rest: {url: http://127.0.0.1:8480/otdsws, username: admin, password: {env: OTDS_STANDIN_PASSWORD}}
//
// With -dump DIR it writes the static REST answers instead (how
// fixtures/otds-rest is made: otds-standin -ldif fixtures/otds/trees.ldif
// -dump fixtures/otds-rest).
//
// The sign-in password is $OTDS_STANDIN_PASSWORD (default "secret"); the
// OAuth client is -client-id with the same secret. Fault knobs mirror
// standin.Faults.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/otds-highspot/otds-highspot/tools/otds-standin/standin"
)

func main() {
	var (
		path     = flag.String("ldif", "", "LDIF export to serve (required)")
		addr     = flag.String("addr", "127.0.0.1:8480", "listen address (keep it on loopback)")
		user     = flag.String("user", "admin", "user name for ticket sign-in")
		client   = flag.String("client-id", "etl", "OAuth2 client id")
		maxUses  = flag.Int("ticket-max-uses", 0, "expire a ticket after this many data requests (0: never)")
		ttl      = flag.Duration("ticket-ttl", 0, "expire a ticket this long after sign-in (0: never)")
		exp400   = flag.Bool("expiry-400", false, "answer expired tickets with 400 status 1034 instead of 401")
		failRate = flag.Float64("fail-rate", 0, "share of data requests answered 500")
		drop     = flag.Int("drop-every", 0, "drop the connection mid-answer on every N-th data request")
		pseudo   = flag.Bool("pseudo-dns", false, "serve database-era pseudo-DNs as entryDN")
		dump     = flag.String("dump", "", "write static REST answers into this directory and exit (e.g. fixtures/otds-rest)")
	)
	flag.Parse()
	log := logrus.New()
	if err := run(*path, *addr, *user, *client, *dump, *pseudo, standin.Faults{TicketMaxUses: *maxUses, TicketTTL: *ttl, Expiry400: *exp400,
		FailRate: *failRate, Seed: 1, DropEvery: *drop}, log); err != nil {
		log.Error(err)
		os.Exit(1)
	}
}

func run(path, addr, user, client, dump string, pseudo bool, f standin.Faults, log logrus.FieldLogger) error {
	if path == "" {
		return errors.New("-ldif is required: the LDIF export to serve")
	}
	fh, err := os.Open(path)
	if err != nil {
		return err
	}
	start := time.Now()
	d, err := standin.Load(fh)
	fh.Close()
	if err != nil {
		return err
	}
	pw := os.Getenv("OTDS_STANDIN_PASSWORD")
	if pw == "" {
		pw = "secret"
	}
	srv := standin.New(d, standin.Options{Users: map[string]string{user: pw}, Clients: map[string]string{client: pw}, PseudoDNs: pseudo, Faults: f})
	if dump != "" {
		return srv.Dump(dump)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	var users, groups int
	for _, p := range d.Partitions {
		users += len(d.Users[p])
		groups += len(d.Groups[p])
	}
	log.WithFields(logrus.Fields{"partitions": len(d.Partitions), "users": users, "groups": groups, "load": time.Since(start).Round(time.Millisecond)}).
		Info(fmt.Sprintf("serving OTDS REST stand-in on http://%s/otdsws", ln.Addr()))
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hs.Shutdown(sctx)
	}()
	if err := hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
