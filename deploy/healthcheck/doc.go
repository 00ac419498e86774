// Command robustmq-healthcheck is the container health probe: it GETs one
// URL (a service's /healthz) and exits 0 on HTTP 200, 1 otherwise. The
// images are FROM scratch with no shell, so a Docker HEALTHCHECK cannot run
// curl or wget; this static, standard-library-only binary ships beside the
// services instead. It never changes anything and never retries: the
// container runtime owns the schedule (interval, retries).
package main
