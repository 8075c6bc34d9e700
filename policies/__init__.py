"""The pure decision core: functions of (snapshot, now) -> decisions with reasons.

No I/O, no asyncio, no logging, no SDKs, no clock reads (enforced by .importlinter).
"""
