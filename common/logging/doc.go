// Package logging builds the zerolog.Logger of a process (DESIGN section
// 6): JSON in production, human-readable console output when attached to
// a terminal.
//
// It owns only the construction of a logger. It must never change
// zerolog's package-level settings (global level, time format, default
// logger), which would reach into every other package of the process.
package logging
