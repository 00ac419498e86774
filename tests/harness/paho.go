package harness

import (
	"testing"
	"time"

	mqtt3 "github.com/eclipse/paho.mqtt.golang"
)

// PahoWait bounds every wait for a Paho v3 connect or token.
const PahoWait = 15 * time.Second

// ConnectPaho connects an MQTT 3.1.1 client (Eclipse Paho Go v3) to url as
// id: no automatic reconnects or retries, bounded waits, disconnected when
// the test ends; mod, if set, adjusts the options first (clean session,
// handlers, protocol version...). A failed connect fails the test.
func ConnectPaho(t testing.TB, url, id string, mod func(*mqtt3.ClientOptions)) mqtt3.Client {
	t.Helper()
	o := mqtt3.NewClientOptions().AddBroker(url).SetClientID(id).SetProtocolVersion(4).
		SetCleanSession(true).SetAutoReconnect(false).SetConnectRetry(false).SetConnectTimeout(PahoWait).
		SetWriteTimeout(PahoWait)
	if mod != nil {
		mod(o)
	}
	c := mqtt3.NewClient(o)
	WaitToken(t, "connect "+id, c.Connect())
	t.Cleanup(func() { c.Disconnect(0) })
	return c
}

// WaitToken fails the test, naming what, when k does not complete within
// PahoWait or completes with an error.
func WaitToken(t testing.TB, what string, k mqtt3.Token) {
	t.Helper()
	if !k.WaitTimeout(PahoWait) {
		t.Fatalf("%s: timed out", what)
	}
	if err := k.Error(); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}
