// Package nlink tells how many names (hard links) a file has, for the
// vault's and the proxy's refusal to change in place a file with another
// name.
package nlink
