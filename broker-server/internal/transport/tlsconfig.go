package transport

import (
	"crypto/tls"
	"fmt"
)

// LoadTLSConfig builds a server TLS configuration from a PEM certificate
// (chain) file and its PEM private key file. TLS 1.2 is the minimum.
func LoadTLSConfig(certFile, keyFile string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("transport: load certificate %s and key %s: %w", certFile, keyFile, err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}
