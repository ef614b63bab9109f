"""Mail out: a finished message handed to a maildir, an SMTP server or Graph `sendMail`.

One transport per module, so that only `graph.py` imports MSAL and only `smtp.py` smtplib.
"""
