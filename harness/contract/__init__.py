"""The run-folder contract every stage shares: file names and typed, versioned models (rundir), the one
loader (runfolder.RunFolder), atomic writers, machine and git metadata, shared column names and
markers.
"""
