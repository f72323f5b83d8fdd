package api

import (
	"crypto/tls"
	"log/slog"
	"net"
	"net/http"
	"time"

	"golang.org/x/net/netutil"
)

// Transport limits of the management API. The API is reached by operators,
// Terraform and monitoring, never by devices: a few hundred connections are
// plenty, and none may be held by a client that does not send.
const (
	// DefaultMaxConns is the default cap on the API's open connections;
	// past it, new ones wait in the listen queue until one closes.
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
	}
}

// Listener caps l at max open connections (DefaultMaxConns if max <= 0).
func Listener(l net.Listener, max int) net.Listener {
	if max <= 0 {
		max = DefaultMaxConns
	}
	return netutil.LimitListener(l, max)
}

// authFailed counts a request refused for its credentials (reason
// missing, invalid or forbidden) and logs it, at most every authLogEvery.
func (s *Server) authFailed(r *http.Request, reason string) {
	s.gw.Metrics.APIAuthFailures.WithLabelValues(reason).Inc()
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
