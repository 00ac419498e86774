// Package mosquitto starts the MQTT benchmark's peer: one Eclipse
// Mosquitto process (the Debian package's /usr/sbin/mosquitto) with a
// configuration file written for the run that sets only a listener on a
// free 127.0.0.1 port, anonymous access and quiet logging; everything
// else, persistence included, is mosquitto's default (persistence false:
// messages are held in memory only and nothing is written to disk, let
// alone fsynced, before a PUBACK).
//
// It owns nothing after Start returns: the process belongs to the
// procs.Group it was given. It must never bind anything but 127.0.0.1 and
// never wait without a deadline.
package mosquitto
