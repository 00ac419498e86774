module github.com/robustmq/robustmq-go/deploy/healthcheck

go 1.26.8
