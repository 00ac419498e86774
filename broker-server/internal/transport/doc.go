// Package transport is the broker's network front door: it binds the
// client listeners (MQTT over TCP, TLS, WebSocket and secure WebSocket),
// accepts connections up to a limit, performs the TLS handshake and the
// WebSocket upgrade, and hands every connection to a Handler as a plain
// net.Conn byte stream with a ConnInfo saying where it came from.
//
// WebSocket listeners serve one path (/mqtt by default; any other path is
// 404) and require the client to offer the "mqtt" subprotocol (or
// "mqttv3.1", used by MQTT 3.1 clients); a handshake offering neither is
// refused with HTTP 400, and one beyond the connection limit or during
// shutdown with HTTP 503. Only binary messages are accepted (a text
// message closes the connection, MQTT 5.0 section 6.0); their payloads are
// concatenated into one stream, so a packet may span messages and a message
// may hold several packets. Each Write sends one binary message: a handler
// should buffer and write whole packets. A read deadline that expires on a
// WebSocket (or a write deadline on a TLS) connection breaks it for good.
//
// A connection is owned by the handler for the duration of ServeConn; the
// transport closes it when ServeConn returns and turns a handler panic into
// a closed connection (the connection pays, not the process). Shutdown
// closes the listeners first, then cancels the context every handler got,
// gives the handlers ShutdownTimeout to return, and then cuts the
// connections that are left.
//
// The package owns accepting connections and framing transports into byte
// streams. It must never parse MQTT or hold session state: that is the
// handler's business: the broker's handler is the MQTT front end
// (internal/mqtt/server), wired in by internal/app.
package transport
