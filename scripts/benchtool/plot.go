package main

func runPlot(args []string) error { return nil }
