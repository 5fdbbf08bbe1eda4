"""Fixtures: process factories for switchboard, nginx backends, the raw echo backend and the
WebSocket backend. Every process listens on its own ephemeral loopback port and works in the test's
own temporary directory, so the suite runs in parallel (pytest -n 2)."""

from __future__ import annotations

import itertools

import pytest

from harness import EchoBackend, NginxBackends, RefusingPort, Switchboard, WsBackend


class _Processes:
    """Starts processes for one scope and stops them in reverse order at its end."""

    def __init__(self, tmp_dir):
        self.tmp_dir = tmp_dir
        self.counter = itertools.count()
        self.items = []

    def add(self, item):
        self.items.append(item)
        return item

    def close(self):
        errors = []
        for item in reversed(self.items):
            try:
                if isinstance(item, Switchboard):
                    _stop_switchboard(item)
                else:
                    item.stop() if hasattr(item, "stop") else item.close()
            except AssertionError as exc:
                errors.append(str(exc))
        if errors:
            pytest.fail("teardown: " + "; ".join(errors), pytrace=False)


def _stop_switchboard(sb: Switchboard):
    if sb.returncode is not None:
        return  # the test stopped it and checked the outcome itself
    crashed = sb.proc.poll() is not None
    rc = sb.stop()
    tail = "\n".join(sb.stderr().splitlines()[-15:])
    if crashed:
        raise AssertionError(f"switchboard died during the test with exit code {rc}:\n{tail}")
    if rc != 0:
        raise AssertionError(f"switchboard exited with {rc} after SIGTERM:\n{tail}")


def _factories(procs: _Processes):
    def switchboard(args=(), config=None, listen="127.0.0.1:0", wait=True, env=None,
                    admin="127.0.0.1:0", data_dir=None):
        sb = procs.add(Switchboard(procs.tmp_dir / f"switchboard-{next(procs.counter)}", args=args,
                                   config=config, listen=listen, env=env, admin=admin,
                                   data_dir=data_dir))
        if wait:
            sb.wait_listening()
        return sb

    def nginx_backends(n=3, ports=None):
        return procs.add(NginxBackends(procs.tmp_dir / f"nginx-{next(procs.counter)}", n, ports))

    def echo_backend(name="echo", defaults=None):
        return procs.add(EchoBackend(name, defaults))

    def ws_backend():
        return procs.add(WsBackend())

    def refusing_port():
        return procs.add(RefusingPort())

    return switchboard, nginx_backends, echo_backend, ws_backend, refusing_port


@pytest.fixture
def procs(tmp_path):
    p = _Processes(tmp_path)
    yield p
    p.close()


@pytest.fixture(scope="module")
def module_procs(tmp_path_factory, request):
    p = _Processes(tmp_path_factory.mktemp(request.module.__name__.rsplit(".", 1)[-1]))
    yield p
    p.close()


@pytest.fixture
def switchboard(procs):
    """switchboard(args=(), config=None|dict|yaml-text, listen="127.0.0.1:0") -> started process
    with .port, .pid, .stdout_lines(), .access_log(); SIGTERMed and checked at teardown."""
    return _factories(procs)[0]


@pytest.fixture
def nginx_backends(procs):
    """nginx_backends(n) -> one nginx with n server blocks; .addrs ["127.0.0.1:port", ...]."""
    return _factories(procs)[1]


@pytest.fixture
def echo_backend(procs):
    """echo_backend(name="echo", defaults=None) -> harness.EchoBackend (raw HTTP/1.1 server)."""
    return _factories(procs)[2]


@pytest.fixture
def ws_backend(procs):
    return _factories(procs)[3]()


@pytest.fixture
def refusing_port(procs):
    """refusing_port() -> a bound, non-listening port (.addr): connecting to it is refused."""
    return _factories(procs)[4]


@pytest.fixture(scope="module")
def module_factories(module_procs):
    """The same factories, for processes shared by a whole test module."""
    return _factories(module_procs)
