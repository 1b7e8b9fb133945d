package shell

import (
	"errors"
	"fmt"
	"io/fs"
	"os/exec"
	"syscall"
)

// Exit codes a shell uses for a command it cannot start.
const (
	ExitNotExecutable = 126
	ExitNotFound      = 127
)

// StartError: the command could not be started. Code is what a shell
// would exit with (126 or 127).
type StartError struct {
	Name string
	Code int
	Err  error
}

func (e *StartError) Error() string {
	if e.Code == ExitNotFound {
		return fmt.Sprintf("command not found: %s", e.Name)
	}
	return fmt.Sprintf("cannot run %s: %v", e.Name, e.Err)
}
func (e *StartError) Unwrap() error { return e.Err }

// LookPath resolves name like a shell would, with the PATH of the child's
// environment, and classifies failures as 127 (not found) or 126 (found
// but not executable).
func LookPath(name string, env []string) (string, error) {
	path, err := lookPathEnv(name, env)
	if err == nil {
		return path, nil
	}
	if errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EACCES) {
		return "", &StartError{Name: name, Code: ExitNotExecutable, Err: errors.New("permission denied")}
	}
	var ee *exec.Error
	if errors.As(err, &ee) && errors.Is(ee.Err, exec.ErrNotFound) {
		return "", &StartError{Name: name, Code: ExitNotFound, Err: err}
	}
	if errors.Is(err, fs.ErrNotExist) {
		return "", &StartError{Name: name, Code: ExitNotFound, Err: err}
	}
	return "", &StartError{Name: name, Code: ExitNotExecutable, Err: err}
}
