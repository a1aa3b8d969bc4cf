// Package ferry is the root of Ferry, a zero-storage healthcare integration
// gateway. The code lives in the sub-packages (see README.md for the map);
// this package holds only the repository-wide guard-rail tests.
package ferry
