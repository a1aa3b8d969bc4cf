module github.com/ferryhealth/ferry/unified

go 1.26.0
