"""Reliability suite: counts and outcomes under rotation, outage, clock jumps and forks."""
