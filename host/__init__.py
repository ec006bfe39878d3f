# netmeter host companion (CPython): link client, history, simulator.
