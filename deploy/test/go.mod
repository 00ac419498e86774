module github.com/robustmq/robustmq-go/deploy/test

go 1.26.8

require (
	github.com/BurntSushi/toml v1.6.0
	go.yaml.in/yaml/v3 v3.0.5
)
