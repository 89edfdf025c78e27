"""Where results live and how jobs run: the crash-safe run store (SQLite) and the executors
(in-process, or Ray actors).
"""
