package raftnode

import (
	"fmt"

	"github.com/rs/zerolog"
	"go.etcd.io/raft/v3"
)

// raftLogger adapts zerolog to raft.Logger. Fatal and Panic panic rather
// than exit, so deferred cleanup runs and tests can observe them.
type raftLogger struct {
	log zerolog.Logger
}

var _ raft.Logger = raftLogger{}

func (l raftLogger) Debug(v ...interface{}) { l.log.Debug().Msg(fmt.Sprint(v...)) }
func (l raftLogger) Debugf(format string, v ...interface{}) {
	l.log.Debug().Msgf(format, v...)
}
func (l raftLogger) Info(v ...interface{})                 { l.log.Info().Msg(fmt.Sprint(v...)) }
func (l raftLogger) Infof(format string, v ...interface{}) { l.log.Info().Msgf(format, v...) }
func (l raftLogger) Warning(v ...interface{})              { l.log.Warn().Msg(fmt.Sprint(v...)) }
func (l raftLogger) Warningf(format string, v ...interface{}) {
	l.log.Warn().Msgf(format, v...)
}
func (l raftLogger) Error(v ...interface{}) { l.log.Error().Msg(fmt.Sprint(v...)) }
func (l raftLogger) Errorf(format string, v ...interface{}) {
	l.log.Error().Msgf(format, v...)
}

func (l raftLogger) Fatal(v ...interface{}) {
	msg := fmt.Sprint(v...)
	l.log.Error().Msg(msg)
	panic(msg)
}

func (l raftLogger) Fatalf(format string, v ...interface{}) {
	msg := fmt.Sprintf(format, v...)
	l.log.Error().Msg(msg)
	panic(msg)
}

func (l raftLogger) Panic(v ...interface{}) {
	msg := fmt.Sprint(v...)
	l.log.Error().Msg(msg)
	panic(msg)
}

func (l raftLogger) Panicf(format string, v ...interface{}) {
	msg := fmt.Sprintf(format, v...)
	l.log.Error().Msg(msg)
	panic(msg)
}
