module github.com/robustmq/robustmq-go/common

go 1.26.8

require (
	github.com/robustmq/robustmq-go/proto v0.0.0
	google.golang.org/grpc v1.85.0
	google.golang.org/protobuf v1.36.12
)

require (
	golang.org/x/sys v0.48.0 // indirect
	google.golang.org/genproto/googleapis/rpc v0.0.0-20261019180522-ce908d29299b // indirect
)

replace github.com/robustmq/robustmq-go/proto => ../proto
