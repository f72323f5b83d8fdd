package api

import (
	"bufio"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wasmbed/wasmbed/board"
	"github.com/wasmbed/wasmbed/fleet"
	"github.com/wasmbed/wasmbed/fleet/boltstore"
	"github.com/wasmbed/wasmbed/gateway/apiv1"
)

// auditServer is a Server over an embedded store (without a gateway) whose
// audit log keeps keep entries and backlog more not yet exported, exported
// to a file in dir.
func auditServer(t *testing.T, dir string, keep, backlog int) (*Server, *boltstore.Store, *AuditExport) {
	t.Helper()
	st, err := boltstore.Open(filepath.Join(dir, "fleet.db"))
	if err != nil {
		t.Fatal(err)
	}
	st.LimitAudit(keep, backlog)
	s := New(st, nil, nil, board.Names, []Token{{Name: "ops", Role: RoleAdmin, Secret: "s3cret"}}, slog.New(slog.DiscardHandler))
	e, err := NewAuditExport(context.Background(), st, filepath.Join(dir, "audit.jsonl"), nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close(); st.Close() })
	return s, st, e
}

// send makes a request as ops from 198.51.100.9 with the request id, and
// returns the status and the body.
func send(s *Server, method, path, body, requestID string) (int, []byte) {
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	r.RemoteAddr = "198.51.100.9:40000"
	r.Header.Set("Authorization", "Bearer s3cret")
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	if requestID != "" {
		r.Header.Set("X-Request-ID", requestID)
	}
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	return w.Code, w.Body.Bytes()
}

func auditLog(t *testing.T, s *Server, query string) apiv1.AuditList {
	t.Helper()
	code, body := send(s, "GET", "/v1/audit"+query, "", "")
	var l apiv1.AuditList
	if code != http.StatusOK || json.Unmarshal(body, &l) != nil {
		t.Fatalf("GET /v1/audit%s: %d %s", query, code, body)
	}
	return l
}

// A change's audit entry says who (token), from where (the client's host),
// which request (its X-Request-ID), and what changed: on a create the
// fields set, on an update only those that differ.
func TestAuditEntryNamesRequestAndChanges(t *testing.T) {
	s, _, _ := auditServer(t, t.TempDir(), 100, 100)
	if code, body := send(s, "PUT", "/v1/devices/d1", `{"board":"stm32f4-discovery","labels":{"site":"lab"}}`, "req-create"); code != http.StatusCreated {
		t.Fatalf("create: %d %s", code, body)
	}
	if code, body := send(s, "PUT", "/v1/devices/d1", `{"board":"stm32f4-discovery","labels":{"site":"lab","ring":"canary"}}`, "req-update"); code != http.StatusOK {
		t.Fatalf("update: %d %s", code, body)
	}
	l := auditLog(t, s, "")
	if len(l.Audit) != 2 || l.FirstSeq != 1 || l.LastSeq != 2 || l.Pruned != 0 {
		t.Fatalf("audit log: %+v", l)
	}
	created, updated := l.Audit[0], l.Audit[1]
	if created.Seq != 1 || created.Actor != "ops" || created.Source != "198.51.100.9" || created.RequestID != "req-create" ||
		created.Action != "create" || created.Object != "device/d1" {
		t.Errorf("create entry: %+v", created)
	}
	fields := map[string]fleet.FieldChange{}
	for _, c := range created.Changes {
		fields[c.Field] = c
	}
	if string(fields["board"].New) != `"stm32f4-discovery"` || string(fields["labels.site"].New) != `"lab"` || fields["board"].Old != nil {
		t.Errorf("create's changes: %+v", created.Changes)
	}
	if updated.RequestID != "req-update" || updated.Action != "update" {
		t.Errorf("update entry: %+v", updated)
	}
	// The label added, and updated_at: nothing else differs.
	var got []string
	for _, c := range updated.Changes {
		got = append(got, c.Field)
	}
	if strings.Join(got, ",") != "labels.ring,updated_at" || string(updated.Changes[0].New) != `"canary"` || updated.Changes[0].Old != nil {
		t.Errorf("update's changes: %+v", updated.Changes)
	}
}

// A write and its audit entry commit together: when the entry cannot be
// appended (the export is behind by as many entries as the log may hold),
// the change is refused with a 500 and the object stays as it was.
func TestAuditFailureFailsTheWrite(t *testing.T) {
	dir := t.TempDir()
	s, st, _ := auditServer(t, dir, 1, 1)
	for i, labels := range []string{`{"v":"1"}`, `{"v":"2"}`} {
		if code, body := send(s, "PUT", "/v1/devices/d1", `{"board":"stm32f4-discovery","labels":`+labels+`}`, ""); code >= 300 {
			t.Fatalf("put %d: %d %s", i, code, body)
		}
	}
	// Nothing exported the two entries (the export is not running): a
	// third change finds the log full.
	code, body := send(s, "PUT", "/v1/devices/d1", `{"board":"stm32f4-discovery","labels":{"v":"3"}}`, "")
	if code != http.StatusInternalServerError {
		t.Fatalf("put with a full audit log: %d %s, want 500", code, body)
	}
	if d, _ := st.Devices().Get(context.Background(), "d1"); d.Labels["v"] != "2" {
		t.Fatalf("the refused change was written: %+v", d.Labels)
	}
	if l := auditLog(t, s, "?after=0"); len(l.Audit) != 2 {
		t.Fatalf("audit log: %+v", l)
	}
}

// Every entry reaches the audit file before the store prunes it; the
// pruned ones are visible in GET /v1/audit (first_seq, pruned), which
// pages with ?after=; an export restarted goes on from the file's last
// entry.
func TestAuditExportedBeforePruned(t *testing.T) {
	dir := t.TempDir()
	s, st, e := auditServer(t, dir, 3, 3)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	s.ExportAudit(e)
	go func() { defer close(done); e.Run(ctx) }()
	for i := range 10 {
		if code, body := send(s, "PUT", "/v1/gateways/g1", `{"capacity":`+string(rune('0'+i))+`}`, ""); code >= 300 {
			t.Fatalf("put %d: %d %s", i, code, body)
		}
		// The export keeps up (else the store would refuse at 6 waiting).
		deadline := time.Now().Add(5 * time.Second)
		for len(readAuditFile(t, dir)) < i+1 && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
	}
	cancel()
	<-done
	lines := readAuditFile(t, dir)
	if len(lines) != 10 {
		t.Fatalf("audit file has %d entries, want 10", len(lines))
	}
	for i, r := range lines {
		if r.Seq != uint64(i+1) || r.Object != "gateway/g1" || r.Source != "198.51.100.9" {
			t.Fatalf("audit file line %d: %+v", i+1, r)
		}
	}
	l := auditLog(t, s, "?after=0&limit=2")
	if l.FirstSeq != 8 || l.Pruned != 7 || l.LastSeq != 10 || len(l.Audit) != 2 || l.Audit[0].Seq != 8 {
		t.Fatalf("audit log after pruning: first %d pruned %d last %d, %d entries from %d", l.FirstSeq, l.Pruned, l.LastSeq, len(l.Audit), l.Audit[0].Seq)
	}
	if l := auditLog(t, s, "?after=9"); len(l.Audit) != 1 || l.Audit[0].Seq != 10 {
		t.Fatalf("after 9: %+v", l.Audit)
	}
	if l := auditLog(t, s, "?limit=1"); len(l.Audit) != 1 || l.Audit[0].Seq != 10 {
		t.Fatalf("the latest: %+v", l.Audit)
	}

	// Restarted (an entry committed and not exported, a line cut short by
	// a crash): the file is completed from where it ends, each entry once.
	if _, err := st.AppendAudit(context.Background(), fleet.AuditRecord{Actor: "ops", Action: "x", Object: "gateway/g1"}); err != nil {
		t.Fatal(err)
	}
	e.Close()
	f, err := os.OpenFile(filepath.Join(dir, "audit.jsonl"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"seq":11,"act`)
	f.Close()
	e2, err := NewAuditExport(context.Background(), st, filepath.Join(dir, "audit.jsonl"), nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	e2.Close()
	lines = readAuditFile(t, dir)
	if len(lines) != 11 || lines[10].Seq != 11 || lines[10].Action != "x" {
		t.Fatalf("after a restart the file has %d entries, the last %+v", len(lines), lines[len(lines)-1])
	}
}

// readAuditFile reads the whole entries of the audit file (a line cut
// short is skipped).
func readAuditFile(t *testing.T, dir string) []fleet.AuditRecord {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "audit.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []fleet.AuditRecord
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r fleet.AuditRecord
		if json.Unmarshal(sc.Bytes(), &r) == nil {
			out = append(out, r)
		}
	}
	return out
}

// Named API tokens are audited with their writes; their secret's hash,
// before and after a rotation, is said to change, never shown.
func TestAuditOfAPITokens(t *testing.T) {
	s, st, _ := auditServer(t, t.TempDir(), 100, 100)
	tok := mint(t, s, `{"name":"ci","role":"reader"}`)
	if code, body := send(s, "POST", "/v1/api-tokens/ci/rotate", `{"grace_seconds":60}`, ""); code != http.StatusOK {
		t.Fatalf("rotate: %d %s", code, body)
	}
	if code, body := send(s, "PATCH", "/v1/api-tokens/ci", `{"role":"operator"}`, ""); code != http.StatusOK {
		t.Fatalf("patch: %d %s", code, body)
	}
	stored, err := st.APITokens().Get(context.Background(), "ci")
	if err != nil {
		t.Fatal(err)
	}
	_, raw := send(s, "GET", "/v1/audit", "", "")
	secret := tok.Token[strings.LastIndexByte(tok.Token, '.')+1:]
	for _, s := range []string{secret, stored.Hash, stored.PreviousHash} {
		if strings.Contains(string(raw), s) {
			t.Fatalf("the audit log holds a secret or its hash: %s", raw)
		}
	}
	var l apiv1.AuditList
	if err := json.Unmarshal(raw, &l); err != nil || len(l.Audit) != 3 {
		t.Fatalf("audit log: %s", raw)
	}
	summary := func(r fleet.AuditRecord) string {
		var out []string
		for _, c := range r.Changes {
			switch {
			case c.Redacted:
				out = append(out, c.Field+"=redacted")
			case c.Field == "role":
				out = append(out, c.Field+"="+string(c.Old)+">"+string(c.New))
			default:
				out = append(out, c.Field)
			}
		}
		return r.Action + " " + r.Object + ": " + strings.Join(out, ",")
	}
	for i, want := range []string{
		`create apitoken/ci: created_at,hash=redacted,name,role=>"reader"`,
		`rotate apitoken/ci: hash=redacted,previous_hash=redacted,previous_until,rotated_at`,
		`update apitoken/ci: role="reader">"operator"`,
	} {
		if got := summary(l.Audit[i]); got != want {
			t.Errorf("entry %d: %s, want %s", i+1, got, want)
		}
	}
}

// The watch stream carries the audit entries recorded while it is open to
// admins, and to no one else.
func TestWatchCarriesAuditToAdmins(t *testing.T) {
	s, _, _ := auditServer(t, t.TempDir(), 100, 100)
	reader := mint(t, s, `{"name":"viewer","role":"reader"}`)
	srv := httptest.NewServer(s)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	open := func(token string) <-chan string {
		req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/v1/watch", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("watch: %v %v", err, resp)
		}
		events := make(chan string, 64)
		go func() {
			defer resp.Body.Close()
			defer close(events)
			event := ""
			for sc := bufio.NewScanner(resp.Body); sc.Scan(); {
				line := sc.Text()
				if v, ok := strings.CutPrefix(line, "event: "); ok {
					event = v
				} else if v, ok := strings.CutPrefix(line, "data: "); ok && event == "audit" {
					events <- v
				}
			}
		}()
		return events
	}
	admin, readers := open("s3cret"), open(reader.Token)
	if code, body := send(s, "PUT", "/v1/devices/d1", `{"board":"stm32f4-discovery"}`, "req-watch"); code != http.StatusCreated {
		t.Fatalf("put: %d %s", code, body)
	}
	select {
	case data := <-admin:
		var r fleet.AuditRecord
		if err := json.Unmarshal([]byte(data), &r); err != nil || r.Object != "device/d1" || r.RequestID != "req-watch" {
			t.Fatalf("audit event: %s", data)
		}
	case <-ctx.Done():
		t.Fatal("no audit event on the admin's stream")
	}
	// The reader's stream polled the same time, and carries none.
	time.Sleep(time.Second)
	select {
	case data := <-readers:
		t.Fatalf("a reader got an audit entry: %s", data)
	default:
	}
}
