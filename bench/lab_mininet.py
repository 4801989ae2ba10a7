"""One mininet 2.3 round for bench/lab.sh: NETS LinuxBridge switches (STP
off, no controller, not linked to each other) with PER hosts each; times
build()+start(), the pings among the hosts of each switch, and stop().

Usage: /usr/bin/python3 bench/lab_mininet.py NETS PER IPBASE
Prints one JSON line: up, check, down (seconds), pairs, lost (pairs that
got no answer). Names: switches lbm1..lbmNETS (bridges in the host's
namespace, ports lbmK-ethI), hosts mhKxI (anonymous namespaces that die
with their shells). bench/lab.sh removes leftovers by these names.
"""
import json
import sys
import time
from functools import partial

from mininet.log import setLogLevel
from mininet.net import Mininet
from mininet.nodelib import LinuxBridge
from mininet.topo import Topo


class Islands(Topo):
    """NETS switches, not linked to each other, PER hosts on each."""

    def build(self, nets=1, per=2):
        for k in range(1, nets + 1):
            sw = self.addSwitch("lbm%d" % k)
            for i in range(1, per + 1):
                self.addLink(self.addHost("mh%dx%d" % (k, i)), sw)


def main():
    nets, per, ipbase = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    setLogLevel("error")
    net = Mininet(topo=Islands(nets=nets, per=per), switch=partial(LinuxBridge, stp=False),
                  controller=None, ipBase=ipbase, waitConnected=False, build=False)
    try:
        t0 = time.monotonic()
        net.build()
        net.start()
        t1 = time.monotonic()
        lost = 0.0
        pairs = 0
        for k in range(1, nets + 1):
            hosts = [net.get("mh%dx%d" % (k, i)) for i in range(1, per + 1)]
            n = len(hosts) * (len(hosts) - 1)
            # net.ping returns the percentage of lost pings.
            lost += net.ping(hosts=hosts, timeout=1) * n / 100.0
            pairs += n
        t2 = time.monotonic()
    except BaseException:
        net.stop()
        raise
    net.stop()
    t3 = time.monotonic()
    print(json.dumps({"up": t1 - t0, "check": t2 - t1, "down": t3 - t2,
                      "pairs": pairs, "lost": round(lost)}))


if __name__ == "__main__":
    main()
