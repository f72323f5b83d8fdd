package main

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/wasmbed/wasmbed/gateway/apiv1"
	"github.com/wasmbed/wasmbed/gateway/daemon"
)

func newBackup() *cobra.Command {
	var out, dataDir, apiURL, tokenFile, caFile string
	cmd := &cobra.Command{
		Use:   "backup --out FILE (--api URL --token-file FILE --ca-file FILE | --data-dir DIR)",
		Short: "Back up a standalone gateway: its store, its embedded CA and its tokens, into a gzipped tar",
		Long: `Back up a standalone gateway into FILE (a gzipped tar; - for standard output).

With --api, from a running gateway through its API (GET /v1/backup, an admin
token): consistent, while it serves. With --data-dir, from the data directory
of a gateway that is stopped.

The backup holds the CA's keys and the password that decrypts them: keep it as
the data directory is kept. Restore it with "wasmbed-gateway restore".`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return errors.New("--out: where to write the backup (- for standard output)")
			}
			if (apiURL == "") == (dataDir == "") {
				return errors.New("give --api (a running gateway) or --data-dir (a stopped one)")
			}
			return writeOut(out, func(w io.Writer) (string, error) {
				if dataDir != "" {
					m, err := daemon.BackupDataDir(w, dataDir)
					return fmt.Sprintf("store %d bytes, CA %s (%d records)", m.StoreBytes, m.CA, m.CARecords), err
				}
				c, err := apiClient(apiURL, tokenFile, caFile)
				if err != nil {
					return "", err
				}
				n, err := c.Backup(cmd.Context(), w)
				return fmt.Sprintf("%d bytes", n), err
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&out, "out", "", "file to write the backup to (- for standard output)")
	f.StringVar(&dataDir, "data-dir", "", "data directory of a stopped gateway")
	f.StringVar(&apiURL, "api", "", "management API of a running gateway, e.g. https://gateway:8080")
	f.StringVar(&tokenFile, "token-file", "", "file holding an admin API token (the gateway's DATA_DIR/admin.token)")
	f.StringVar(&caFile, "ca-file", "", "PEM file of the CA root the API's certificate chains to (DATA_DIR/ca.crt); the system's roots when empty")
	return cmd
}

func newRestore() *cobra.Command {
	var from, dataDir string
	cmd := &cobra.Command{
		Use:   "restore --from FILE --data-dir DIR",
		Short: "Restore a backup into a new data directory, for a gateway to serve from",
		Long: `Restore a backup made by "wasmbed-gateway backup" (or GET /v1/backup) into DIR,
which must not exist or be empty. Nothing is written unless the whole archive
reads and matches its manifest. A gateway served from DIR has the fleet, the CA
and the tokens of the one backed up: devices reconnect with the certificates
they hold, without new enrollment tokens.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if from == "" || dataDir == "" {
				return errors.New("--from and --data-dir are required")
			}
			var r io.Reader = os.Stdin
			if from != "-" {
				f, err := os.Open(from)
				if err != nil {
					return err
				}
				defer f.Close()
				r = f
			}
			m, err := daemon.Restore(r, dataDir)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "restored the backup of gateway %q taken %s into %s: store %d bytes, CA %s (%d records), %d files\n",
				m.Gateway, m.CreatedAt.Format("2006-01-02T15:04:05Z"), dataDir, m.StoreBytes, m.CA, m.CARecords, len(m.Files))
			return nil
		},
	}
	cmd.Flags().StringVar(&from, "from", "", "the backup (- for standard input)")
	cmd.Flags().StringVar(&dataDir, "data-dir", "", "the new data directory")
	return cmd
}

// writeOut runs write into out (a temporary file renamed into place once
// write succeeded, mode 0600; or standard output for -) and says what it
// wrote on standard error.
func writeOut(out string, write func(io.Writer) (string, error)) error {
	if out == "-" {
		what, err := write(os.Stdout)
		if err == nil {
			fmt.Fprintln(os.Stderr, "backup:", what)
		}
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	what, err := write(tmp)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), out)
	}
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	fmt.Fprintf(os.Stderr, "backup: wrote %s: %s\n", out, what)
	return nil
}

// apiClient is a client of the API at raw with the token in tokenFile,
// trusting the roots in caFile (the system's when empty).
func apiClient(raw, tokenFile, caFile string) (*apiv1.Client, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("--api %q: want https://host:port", raw)
	}
	if tokenFile == "" {
		return nil, errors.New("--token-file: an admin API token is needed")
	}
	tok, err := os.ReadFile(tokenFile)
	if err != nil {
		return nil, err
	}
	var roots *x509.CertPool
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, err
		}
		roots = x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--ca-file %s: no PEM certificate", caFile)
		}
	}
	return apiv1.NewClient(u, strings.TrimSpace(string(tok)), roots), nil
}
