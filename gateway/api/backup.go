package api

import (
	"fmt"
	"io"
	"net/http"
	"time"
)

// backupArchive is a backup of the gateway (for the OpenAPI document): a
// gzipped tar, what `wasmbed-gateway backup` writes.
type backupArchive []byte

// ServeBackup makes GET /v1/backup write what write writes (the daemon's
// backup of the store and the CA). Without it, the route says why not.
func (s *Server) ServeBackup(write func(w io.Writer) error) { s.backup = write }

func (s *Server) getBackup(w http.ResponseWriter, r *http.Request, _ *hashedToken) error {
	if s.backup == nil {
		return &httpError{status: http.StatusMethodNotAllowed,
			msg: "this gateway keeps no store of its own: in Kubernetes mode the fleet is in the API server (back up etcd and the CA secret, docs/kubernetes.md)"}
	}
	name := fmt.Sprintf("wasmbed-backup-%s.tar.gz", time.Now().UTC().Format("20060102T150405Z"))
	w.Header().Set("Content-Type", "application/gzip")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	if err := s.backup(w); err != nil {
		// The status is sent: the archive ends short (its gzip trailer is
		// missing), which a reader notices; the log says why.
		s.log.Error("backup failed", "err", err)
		panic(http.ErrAbortHandler)
	}
	return nil
}
