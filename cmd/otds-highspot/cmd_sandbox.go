package main

import (
	"github.com/spf13/cobra"

	"github.com/otds-highspot/otds-highspot/pipelines"
)

func newSandboxCommand(opts *globalOptions) *cobra.Command {
	var o pipelines.SandboxOptions
	cmd := &cobra.Command{
		Use:   "sandbox",
		Short: "Serve the local Highspot stand-in (REST v1.0 + SCIM 2.0 + admin API) until interrupted",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.Stdout = opts.out()
			opts.summary = &pipelines.Summary{Command: "sandbox", Details: map[string]any{"listen": o.Listen, "state_file": o.StateFile}}
			return pipelines.Sandbox(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Listen, "listen", "127.0.0.1:8089", "address to listen on (loopback only unless you mean it)")
	f.StringVar(&o.StateFile, "state", "", "persist the sandbox state to this JSON snapshot (changes since it go to <file>.journal)")
	f.StringVar(&o.Seed, "seed", "", "seed JSON used when the state file does not exist yet (default: the bundled fixture)")
	f.StringVar(&o.Profile, "profile", "lenient", "provider profile: lenient, strict-rfc (RFC 7644 to the letter: eq filters only, no Bulk) or quirky (shapes seen in the field)")
	return cmd
}
