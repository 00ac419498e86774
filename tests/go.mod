module github.com/robustmq/robustmq-go/tests

go 1.26.8

require (
	github.com/robustmq/robustmq-go/common v0.0.0
	github.com/robustmq/robustmq-go/proto v0.0.0
)

replace github.com/robustmq/robustmq-go/proto => ../proto

replace github.com/robustmq/robustmq-go/common => ../common
