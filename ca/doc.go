// Package ca is the gateway's certificate authority: it signs the certificates
// devices use for mutual TLS and the gateway's own TLS server certificates.
//
// Two implementations sit behind the [Authority] interface:
//
//   - [Embedded] (the default) runs a step-ca authority inside the gateway
//     process. On first start [NewEmbedded] creates a P-256 root and
//     intermediate, JWK provisioners, a step-ca configuration (ca.json) and a
//     bbolt database in its directory; later starts load them. Every
//     certificate is issued by step-ca's authority.Authority exactly as a
//     step-ca server would: the package mints a one-time JWK provisioner token
//     in-process, authorizes it (Authorize with the sign method) and signs with
//     the options the provisioner returned (SignWithContext). Issued
//     certificates, used tokens and revocations are recorded in the database.
//     The directory is a complete step-ca configuration: an operator can serve
//     it with `step-ca DIR/ca.json --password-file DIR/password` (not while the
//     gateway holds the database lock).
//
//   - [External] talks to a running step-ca server over HTTPS (trusting its
//     root file) with a JWK provisioner: it decrypts the provisioner's key with
//     its password, mints one-time tokens and calls the server's sign and
//     revoke endpoints through step-ca's own client (package ca of
//     smallstep/certificates).
//
// Revocation is step-ca's own in both: [Authority.Revoke] records a passive
// revocation (the embedded authority in its database, an external server
// through its revoke endpoint), and [Authority.CRL] is step-ca's signed CRL
// of those serials (the embedded authority enables and regenerates it on
// every revocation; an external server must have "crl" enabled in its
// ca.json).
//
// Why github.com/smallstep/certificates rather than a hand-written CA: the
// gateway must embed step-ca by default and use an external step-ca server by
// configuration. Driving the same step-ca code (provisioners, token checks,
// templates, validity and name validation, backdating, the database) in both
// modes keeps their behaviour identical, so a fleet can move from the embedded
// authority to an external one without certificates changing shape.
//
// Device certificates: the subject common name is the device name given to
// [Authority.SignDevice] and the certificate carries the URI SAN
// [DeviceURI](name) plus, when the name is a valid DNS name, a DNS SAN with the
// name. These come from the signed token, never from the CSR; step-ca refuses a
// CSR that asks for other names (an empty CSR subject is fine). Device keys
// must be ECDSA P-256. [DeviceName] recovers and cross-checks the name from a
// verified peer certificate.
package ca
