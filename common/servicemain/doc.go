// Package servicemain is the start-up sequence every service binary shares:
// parse the flags (--config, optionally --data-dir, and the service's own),
// load the configuration (defaults, TOML file, environment, flags: see
// common/config), build the logger, run the service until SIGTERM/SIGINT,
// and turn the outcome into an exit status (0 done or --help, 1 the service
// failed, 2 bad usage or configuration). The cmd/<binary>/main.go files
// only fill in a Spec.
//
// It owns only that sequence. It must never hold service logic or know any
// service's configuration type beyond the accessors the Spec gives it.
package servicemain
