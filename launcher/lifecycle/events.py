"""A pod's event list, bounded as Kubernetes bounds events: a repeat of an
event already listed (same type, container, sandbox and message) only
raises its count and last time; beyond MAX_EVENTS distinct events the
oldest are dropped (and counted), so a crash loop that runs for weeks
keeps a small record."""

MAX_EVENTS = 100


class Event:
    """One line of the pod's history (`inspect` shows the list)."""
    __slots__ = ("time", "type", "container", "sandbox", "message", "count", "last")

    def __init__(self, time, type, container=None, sandbox=None, message="", count=1, last=None):
        self.time, self.type, self.container = time, type, container
        self.sandbox, self.message = sandbox, message
        self.count, self.last = count, time if last is None else last

    def key(self):
        return (self.type, self.container, self.sandbox, self.message)

    def to_dict(self):
        d = {k: v for k, v in (("time", self.time), ("type", self.type),
                               ("container", self.container), ("sandbox", self.sandbox),
                               ("message", self.message)) if v not in (None, "")}
        if self.count > 1:
            d.update(count=self.count, last=self.last)
        return d

    def to_state(self):
        return [self.time, self.type, self.container, self.sandbox, self.message,
                self.count, self.last]


class EventLog:
    """The bounded, aggregated list; iterates like a list of Events."""

    def __init__(self, limit=MAX_EVENTS):
        self.limit = limit
        self.items = []
        self.dropped = 0

    def add(self, now, type_, container=None, sandbox=None, message=""):
        ev = Event(now, type_, container, sandbox, message)
        key = ev.key()
        for old in reversed(self.items):
            if old.key() == key:
                old.count += 1
                old.last = now
                return old
        self.items.append(ev)
        if len(self.items) > self.limit:
            self.dropped += len(self.items) - self.limit
            del self.items[:len(self.items) - self.limit]
        return ev

    def __iter__(self):
        return iter(self.items)

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]

    def to_list(self):
        return [e.to_dict() for e in self.items]

    def to_state(self):
        return {"limit": self.limit, "dropped": self.dropped,
                "items": [e.to_state() for e in self.items]}

    @classmethod
    def from_state(cls, s):
        log = cls(s["limit"])
        log.dropped = s["dropped"]
        log.items = [Event(*x) for x in s["items"]]
        return log
