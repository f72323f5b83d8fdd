package api

import (
	"container/list"
	"crypto/tls"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Transport limits of the management API. The API is reached by operators,
// Terraform and monitoring, never by devices: a few hundred connections are
// plenty, and none may be held by a client that does not send.
const (
	// DefaultMaxConns is the default cap on the API's open connections;
	// past it, the oldest connection not in a request makes room.
	DefaultMaxConns = 256
	// ReadHeaderTimeout bounds the TLS handshake and a request's headers.
	ReadHeaderTimeout = 10 * time.Second
	// ReadTimeout bounds a whole request, body included (a 4 MiB module
	// over a slow link).
	ReadTimeout = 2 * time.Minute
	// WriteTimeout bounds writing an answer (not the watch stream, which
	// lifts it).
	WriteTimeout = 2 * time.Minute
	// IdleTimeout closes a kept-alive connection with no request.
	IdleTimeout = 90 * time.Second
	// maxHeaderBytes bounds a request's headers.
	maxHeaderBytes = 64 << 10
	// authLogEvery is how often failed authentications are logged at most.
	authLogEvery = 10 * time.Second
)

// TLSConfig is the API listener's TLS: 1.3, or 1.2 with ECDHE key exchange
// and AEAD ciphers only (no CBC, no SHA-1 MACs, no RSA key exchange).
func TLSConfig(getCert func(*tls.ClientHelloInfo) (*tls.Certificate, error)) *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: getCert,
		CipherSuites: []uint16{ // TLS 1.2 only; TLS 1.3's are all AEAD
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
			tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		},
	}
}

// HTTPServer is the API's http.Server over handler: the timeouts above and
// TLS from TLSConfig. Serve it on Listener's listener.
func HTTPServer(handler http.Handler, getCert func(*tls.ClientHelloInfo) (*tls.Certificate, error), log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		TLSConfig:         TLSConfig(getCert),
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		ConnState:         trackState,
	}
}

// Listener caps l at max open connections (DefaultMaxConns if max <= 0),
// for an http.Server from HTTPServer. At the cap, the oldest connection that
// is not in a request (still in its TLS handshake or headers, or idle
// between requests) is closed to make room, so that connections opened and
// left silent cannot keep an operator out; if every one is in a request
// (watch streams, uploads), the new connection is closed.
func Listener(l net.Listener, max int) net.Listener {
	if max <= 0 {
		max = DefaultMaxConns
	}
	return &capListener{Listener: l, max: max, conns: list.New()}
}

type capListener struct {
	net.Listener
	max   int
	mu    sync.Mutex
	conns *list.List // *capConn, oldest first
}

// capConn is a connection of a capListener.
type capConn struct {
	net.Conn
	l      *capListener
	elem   *list.Element // nil once closed
	active atomic.Bool   // in a request
}

func (l *capListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		cc := &capConn{Conn: c, l: l}
		var evict *capConn
		l.mu.Lock()
		if l.conns.Len() >= l.max {
			for e := l.conns.Front(); e != nil; e = e.Next() {
				if o := e.Value.(*capConn); !o.active.Load() {
					evict = o
					break
				}
			}
			if evict == nil {
				l.mu.Unlock()
				c.Close()
				continue
			}
			l.conns.Remove(evict.elem)
			evict.elem = nil
		}
		cc.elem = l.conns.PushBack(cc)
		l.mu.Unlock()
		if evict != nil {
			evict.Conn.Close()
		}
		return cc, nil
	}
}

func (c *capConn) Close() error {
	c.l.mu.Lock()
	if c.elem != nil {
		c.l.conns.Remove(c.elem)
		c.elem = nil
	}
	c.l.mu.Unlock()
	return c.Conn.Close()
}

// trackState marks a capConn active while the server is in a request on it.
func trackState(c net.Conn, st http.ConnState) {
	if tc, ok := c.(interface{ NetConn() net.Conn }); ok {
		c = tc.NetConn()
	}
	if cc, ok := c.(*capConn); ok {
		cc.active.Store(st == http.StateActive || st == http.StateHijacked)
	}
}

// authFailed counts a request refused for its credentials (reason
// missing, invalid or forbidden) and logs it, at most every authLogEvery.
func (s *Server) authFailed(r *http.Request, reason string) {
	if s.gw != nil { // nil: the OpenAPI generator's, and the tests' of the store routes
		s.gw.Metrics.APIAuthFailures.WithLabelValues(reason).Inc()
	}
	s.authLog.Log("auth_"+reason, "API request refused", "reason", reason, "method", r.Method, "path", r.URL.Path,
		"remote", r.RemoteAddr)
}

// streaming lifts the server's read and write timeouts from a response
// that streams for as long as the client stays (the watch).
func streaming(w http.ResponseWriter) {
	rc := http.NewResponseController(w)
	rc.SetReadDeadline(time.Time{})
	rc.SetWriteDeadline(time.Time{})
}
