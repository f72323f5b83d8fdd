package api

import (
	"bytes"
	"crypto/sha256"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/wasmbed/wasmbed/gateway/apiv1"
)

// Idempotency keys on the requests that mint a secret or a certificate
// (enrollment tokens, certificates, API tokens and their rotations): a
// client that lost the answer sends the request again with the same
// Idempotency-Key header and gets the same answer, instead of a second token
// it never hears of (and that counts against the device's unused tokens)
// or a second certificate that supersedes the first. Answers are kept in
// memory only (they hold secrets), for idempotencyTTL, per token name: a
// gateway restart forgets them, and the retry then mints again.
const (
	idempotencyTTL     = time.Hour
	maxIdempotencyKeys = 10000
	maxIdempotencyKey  = 255
)

type idempotentAnswer struct {
	path     string   // the request's
	bodySum  [32]byte // the request body's, to refuse the key's reuse for another request
	expires  time.Time
	done     chan struct{} // closed once status and the rest are set
	status   int
	header   http.Header
	response []byte
}

type idempotency struct {
	mu      sync.Mutex
	answers map[string]*idempotentAnswer
}

// serve runs h once per (token, method, path, key) within idempotencyTTL and
// answers repeats from memory; without a key it just runs h. A 2xx answer
// is kept; after an error the same key may try again.
func (id *idempotency) serve(w http.ResponseWriter, r *http.Request, who *hashedToken, h func(http.ResponseWriter) error) error {
	keys := r.Header.Values("Idempotency-Key")
	if len(keys) == 0 {
		return h(w)
	}
	key := keys[0]
	if len(key) > maxIdempotencyKey || !visibleASCII(key) {
		return badRequest("Idempotency-Key: 1 to %d visible ASCII characters", maxIdempotencyKey)
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxJSONBody+1))
	if err != nil {
		return badRequest("request body: %v", err)
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	sum := sha256.Sum256(body)
	slot := who.name + "\x00" + r.Method + "\x00" + r.URL.Path + "\x00" + key

	now := time.Now()
	id.mu.Lock()
	if id.answers == nil {
		id.answers = map[string]*idempotentAnswer{}
	}
	a, seen := id.answers[slot]
	if seen && now.After(a.expires) {
		delete(id.answers, slot)
		seen = false
	}
	if !seen {
		id.evict(now)
		a = &idempotentAnswer{path: r.URL.Path, bodySum: sum, expires: now.Add(idempotencyTTL), done: make(chan struct{})}
		id.answers[slot] = a
	}
	id.mu.Unlock()

	if seen {
		if a.bodySum != sum {
			return &httpError{status: http.StatusUnprocessableEntity, code: apiv1.CodeUnprocessable,
				msg: "Idempotency-Key " + key + " was used for another request body: use a new key for a new request"}
		}
		select {
		case <-a.done:
		default:
			return &httpError{status: http.StatusConflict, code: apiv1.CodeConflict,
				msg: "a request with Idempotency-Key " + key + " is in progress: try again when it has been answered"}
		}
		for k, v := range a.header {
			w.Header()[k] = v
		}
		w.Header().Set("Idempotent-Replayed", "true")
		w.WriteHeader(a.status)
		_, err := w.Write(a.response)
		return err
	}

	rec := &recordingWriter{statusWriter: statusWriter{ResponseWriter: w}}
	herr := h(rec)
	id.mu.Lock()
	if herr != nil || rec.status < 200 || rec.status > 299 {
		delete(id.answers, slot) // failed: the key may try again
	} else {
		a.status, a.header, a.response = rec.status, rec.Header().Clone(), rec.body.Bytes()
	}
	close(a.done)
	id.mu.Unlock()
	return herr
}

// forget drops the answers about object (a path: what a request to it or
// under it minted, or what an answer's Location names), once object is
// deleted: a retry then mints again rather than answering a secret of
// something that is gone.
func (id *idempotency) forget(object string) {
	id.mu.Lock()
	defer id.mu.Unlock()
	for k, a := range id.answers {
		select {
		case <-a.done:
		default:
			continue // in progress: its own request decides
		}
		if a.path == object || strings.HasPrefix(a.path, object+"/") || a.header.Get("Location") == object {
			delete(id.answers, k)
		}
	}
}

// evict drops expired answers, and the oldest when the map is full.
func (id *idempotency) evict(now time.Time) {
	if len(id.answers) < maxIdempotencyKeys {
		return
	}
	var oldest string
	for k, a := range id.answers {
		if now.After(a.expires) {
			delete(id.answers, k)
		} else if oldest == "" || a.expires.Before(id.answers[oldest].expires) {
			oldest = k
		}
	}
	if len(id.answers) >= maxIdempotencyKeys {
		delete(id.answers, oldest)
	}
}

// recordingWriter is a statusWriter that keeps a copy of the body.
type recordingWriter struct {
	statusWriter
	body bytes.Buffer
}

func (w *recordingWriter) Write(b []byte) (int, error) {
	w.body.Write(b)
	return w.statusWriter.Write(b)
}

// visibleASCII reports whether s is not empty and all visible ASCII (no
// space): what a request id or an idempotency key may be.
func visibleASCII(s string) bool {
	for _, c := range []byte(s) {
		if c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return s != ""
}
