package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wasmbed/wasmbed/fleet"
)

// AuditExport copies every audit entry out of the store once it is
// committed, before the store's bound can prune it: one JSON line per entry
// appended to a file (synced to disk before the store is told, so that the
// store keeps what the file may not hold yet), and one "audit" line in the
// log. It follows the store by sequence number rather than being handed the
// entries, so an entry committed just before a crash is exported at the
// next start, and an export that failed is retried.
type AuditExport struct {
	store fleet.Store
	path  string // "": the log only
	log   *slog.Logger
	kick  chan struct{}

	records, errs prometheus.Counter

	mu   sync.Mutex // one export at a time
	f    *os.File
	next uint64 // the first entry not exported
}

// auditExportBatch is how many entries an export reads at once.
const auditExportBatch = 1000

// NewAuditExport opens (creating, 0600) the JSON-lines file path, or
// exports to the log only when path is "", and exports what the store
// holds that the file does not. Its metrics go to reg when not nil.
func NewAuditExport(ctx context.Context, store fleet.Store, path string, reg *prometheus.Registry, log *slog.Logger) (*AuditExport, error) {
	e := &AuditExport{store: store, path: path, log: log.With("component", "audit"), kick: make(chan struct{}, 1),
		records: prometheus.NewCounter(prometheus.CounterOpts{Name: "wasmbed_audit_records_total",
			Help: "Audit entries exported (to the audit file and the log)."}),
		errs: prometheus.NewCounter(prometheus.CounterOpts{Name: "wasmbed_audit_export_errors_total",
			Help: "Failed exports of audit entries (retried; the store keeps the entries until they are exported)."}),
	}
	if reg != nil {
		reg.MustRegister(e.records, e.errs)
	}
	bounds, err := store.Audit(ctx, math.MaxUint64, 0)
	if err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	last := bounds.LastSeq // the log only: from what is recorded from now on
	if path != "" {
		if e.f, err = os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600); err != nil {
			return nil, fmt.Errorf("audit file: %w", err)
		}
		if last, err = lastExported(e.f); err != nil {
			e.f.Close()
			return nil, fmt.Errorf("audit file %s: %w", path, err)
		}
		if last > bounds.LastSeq {
			e.log.Warn("the audit file holds entries the store never recorded (a new store?); exporting the store's from its first",
				"file", path, "file_last_seq", last, "store_last_seq", bounds.LastSeq)
			last = 0
		}
	}
	e.next = last + 1
	if x, ok := store.(fleet.AuditExporter); ok {
		x.AuditExported(last)
	}
	if err := e.export(ctx); err != nil {
		e.Close()
		return nil, err
	}
	e.log.Info("audit export", "file", path, "exported_to_seq", e.next-1)
	return e, nil
}

// Kick says entries were recorded.
func (e *AuditExport) Kick() {
	select {
	case e.kick <- struct{}{}:
	default:
	}
}

// Run exports entries as they are recorded, and retries failed exports,
// until ctx ends.
func (e *AuditExport) Run(ctx context.Context) {
	retry := time.NewTicker(5 * time.Second)
	defer retry.Stop()
	for {
		select {
		case <-ctx.Done():
			// What was committed before the end is exported too.
			e.export(context.WithoutCancel(ctx))
			return
		case <-e.kick:
		case <-retry.C:
		}
		e.export(ctx)
	}
}

// Close closes the file.
func (e *AuditExport) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.f == nil {
		return nil
	}
	err := e.f.Close()
	e.f = nil
	return err
}

// export writes the entries after the last exported, in batches; an error
// is counted, logged and left for the next attempt.
func (e *AuditExport) export(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	for {
		p, err := e.store.Audit(ctx, e.next-1, auditExportBatch)
		if err != nil {
			return e.failed(fmt.Errorf("read the audit log: %w", err))
		}
		if p.FirstSeq > e.next {
			// Not in the store any more, and not in this file: exported to
			// another (a new --audit-log) or to the log only, or pruned by
			// a store that does not hold them for the export (Kubernetes
			// mode) while the export was far behind.
			e.log.Error("audit entries the store no longer holds are missing from the audit file",
				"file", e.path, "from_seq", e.next, "to_seq", p.FirstSeq-1)
			e.next = p.FirstSeq
		}
		if len(p.Records) == 0 {
			return nil
		}
		if err := e.write(p.Records); err != nil {
			return e.failed(err)
		}
		for _, r := range p.Records {
			e.log.Info("audit", "seq", r.Seq, "actor", r.Actor, "source", r.Source, "request_id", r.RequestID,
				"action", r.Action, "object", r.Object, "detail", r.Detail, "changed", changedFields(r.Changes))
		}
		e.records.Add(float64(len(p.Records)))
		e.next = p.Records[len(p.Records)-1].Seq + 1
		if x, ok := e.store.(fleet.AuditExporter); ok {
			x.AuditExported(e.next - 1)
		}
		if len(p.Records) < auditExportBatch {
			return nil
		}
	}
}

func (e *AuditExport) failed(err error) error {
	e.errs.Inc()
	e.log.Error("audit export failed; retrying", "next_seq", e.next, "err", err)
	return err
}

// write appends recs to the file, one JSON line each, and syncs it; on
// failure the file is cut back to where it was, so that it holds whole
// lines only.
func (e *AuditExport) write(recs []fleet.AuditRecord) error {
	if e.path == "" {
		return nil
	}
	if e.f == nil {
		return errors.New("audit file closed")
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	for i := range recs {
		if err := enc.Encode(&recs[i]); err != nil {
			return err
		}
	}
	st, err := e.f.Stat()
	if err != nil {
		return fmt.Errorf("audit file %s: %w", e.path, err)
	}
	if _, err := e.f.Write(b.Bytes()); err != nil {
		e.f.Truncate(st.Size())
		return fmt.Errorf("audit file %s: %w", e.path, err)
	}
	if err := e.f.Sync(); err != nil {
		return fmt.Errorf("audit file %s: %w", e.path, err)
	}
	return nil
}

// lastExported reads the sequence number of the file's last whole line (0
// for an empty file). A last line cut short (a crash while writing) is
// ended with a newline, so the entry written again after it stands alone.
func lastExported(f *os.File) (uint64, error) {
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	size := st.Size()
	if size == 0 {
		return 0, nil
	}
	// Read backwards until the last whole line is in view.
	const chunk = 64 << 10
	var tail []byte
	for off := size; off > 0; {
		n := min(off, chunk)
		off -= n
		buf := make([]byte, n)
		if _, err := f.ReadAt(buf, off); err != nil && !errors.Is(err, io.EOF) {
			return 0, err
		}
		tail = append(buf, tail...)
		end := bytes.LastIndexByte(tail, '\n')
		if end < 0 {
			continue
		}
		if start := bytes.LastIndexByte(tail[:end], '\n'); start >= 0 || off == 0 {
			if end != len(tail)-1 {
				if _, err := f.Write([]byte("\n")); err != nil {
					return 0, err
				}
			}
			var r struct {
				Seq uint64 `json:"seq"`
			}
			if err := json.Unmarshal(tail[start+1:end], &r); err != nil {
				return 0, fmt.Errorf("last line: %w", err)
			}
			return r.Seq, nil
		}
	}
	// No whole line: a first one cut short.
	_, err = f.Write([]byte("\n"))
	return 0, err
}

// changedFields names the fields of changes, for the log.
func changedFields(cs []fleet.FieldChange) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Field
	}
	return out
}

// ExportAudit has e export the entries of the changes made through the API
// as soon as they are recorded.
func (s *Server) ExportAudit(e *AuditExport) { s.auditKick = e.Kick }
